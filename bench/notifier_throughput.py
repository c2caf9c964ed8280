"""Throughput of one notifier consumer process, and end-to-end delay (a command, not a test).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \
    REDIS_URL=redis://127.0.0.1:6379/0 AMQP_URL=amqp://guest:guest@127.0.0.1:5672/ \
    .venv/bin/python bench/notifier_throughput.py [--events 3000] [--tickets 200]

1. Records written per second by ONE notifier consumer process (PostgreSQL, RabbitMQ,
   Redis routing on): the queue is filled with ``--events`` contract events first (a mix of
   ticket_created -> 2 admins, ticket_opened -> the client, ticket_approved -> 2 admins and 2
   developers; 2 1/3 records per event on average), then the consumer is started (it
   handles what is waiting in batches, one transaction per batch: ``--batch-size``). The rate
   is records / (last commit - first commit), from the records' ``created_at`` (written in
   the committing transaction), so process start-up is not counted.
2. End-to-end delay from the tickets API request to the record's commit, p50/p99: real
   tickets service + notifier; ``--tickets`` sequential POST /api/tickets/ by a client;
   for each, the time from just before the request until the admin's ``ticket_created``
   record is visible in the notifier's database (polled every ms: visible = committed).

Figures are printed and written as JSON to bench/results/notifier_throughput.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from harness.api import TicketsApi  # noqa: E402
from harness.infra import Infra  # noqa: E402
from harness.notifier import (  # noqa: E402
    delete_namespace,
    fresh_namespace,
    publish_events,
    start_notifier,
)
from harness.tickets import start_tickets  # noqa: E402

from incident_contracts import EventType, Role, TicketStatus  # noqa: E402
from incident_notifier.testing import ticket_event, ticket_snapshot, user_event  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "notifier_throughput.json"
ADMINS, CLIENT, DEVS = (1, 2), 3, (4, 5)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def mixed_events(count: int) -> list[Any]:
    events: list[Any] = []
    for n in range(count):
        kind = n % 3
        if kind == 0:
            events.append(
                ticket_event(EventType.TICKET_CREATED, ticket_snapshot(id=n), actor_id=CLIENT)
            )
        elif kind == 1:
            snapshot = ticket_snapshot(id=n, status=TicketStatus.OPENED, created_by_id=CLIENT)
            events.append(ticket_event(EventType.TICKET_OPENED, snapshot, actor_id=ADMINS[0]))
        else:
            snapshot = ticket_snapshot(id=n, status=TicketStatus.CLOSED, assignee_ids=list(DEVS))
            events.append(ticket_event(EventType.TICKET_APPROVED, snapshot, actor_id=CLIENT))
    return events


async def count_and_span(database_url: str) -> tuple[int, float]:
    connection = await asyncpg.connect(database_url)
    try:
        row = await connection.fetchrow(
            "SELECT count(*) AS n, extract(epoch FROM max(created_at) - min(created_at)) AS span"
            " FROM notifications"
        )
        return int(row["n"]), float(row["span"] or 0.0)
    finally:
        await connection.close()


async def wait_for(database_url: str, expected: int, within: float) -> tuple[int, float]:
    deadline = time.monotonic() + within
    found, span = 0, 0.0
    while time.monotonic() < deadline:
        found, span = await count_and_span(database_url)
        if found >= expected:
            break
        await asyncio.sleep(0.2)
    return found, span


def throughput(infra: Infra, events: int, prefetch: int, batch_size: int) -> dict[str, Any]:
    namespace = fresh_namespace(infra)
    notifier = start_notifier(
        infra,
        "http://127.0.0.1:9",
        name=f"bench-{namespace}",
        start_consumer=False,
        INCIDENT_NAMESPACE=namespace,
        NOTIFIER_DIRECTORY_SYNC="false",
        NOTIFIER_PREFETCH=str(prefetch),
        NOTIFIER_BATCH_SIZE=str(batch_size),
        NOTIFIER_LOG_LEVEL="WARNING",
    )
    try:
        users = [
            user_event(ADMINS[0], Role.ADMIN, "Ann Admin"),
            user_event(ADMINS[1], Role.ADMIN, "Abe Admin"),
            user_event(CLIENT, Role.CLIENT, "John Client"),
            user_event(DEVS[0], Role.DEVELOPER, "Alice Developer"),
            user_event(DEVS[1], Role.DEVELOPER, "Bob Support"),
        ]
        batch = mixed_events(events)
        # The consumer declares the queue; start it, stop it, then fill the queue, so the
        # measured run starts with every message already waiting.
        notifier.consumer.start()
        notifier.consumer.terminate()
        asyncio.run(publish_events(infra.amqp_url, namespace, [*users, *batch]))
        expected = sum((2, 1, 4)[n % 3] for n in range(events))
        started = time.monotonic()
        notifier.consumer.start()
        found, span = asyncio.run(wait_for(notifier.database_url, expected, within=600))
        wall = time.monotonic() - started
    finally:
        notifier.stop()
        asyncio.run(delete_namespace(infra.amqp_url, namespace))
    if found < expected:
        raise SystemExit(f"only {found} of {expected} records were written")
    return {
        "events": events,
        "records": found,
        "prefetch": prefetch,
        "batch_size": batch_size,
        "commit_span_seconds": round(span, 3),
        "records_per_second": round(found / span, 1),
        "events_per_second": round(events / span, 1),
        "wall_seconds_including_startup": round(wall, 2),
    }


def end_to_end(infra: Infra, tickets_count: int) -> dict[str, Any]:
    namespace = fresh_namespace(infra)
    tickets = start_tickets(infra, INCIDENT_NAMESPACE=namespace, TICKETS_LOG_LEVEL="WARNING")
    notifier = None
    try:
        notifier = start_notifier(
            infra,
            tickets.url,
            name=f"bench-e2e-{namespace}",
            INCIDENT_NAMESPACE=namespace,
            NOTIFIER_LOG_LEVEL="WARNING",
        )
        admin = TicketsApi(tickets.url).login_as(tickets.admin_username, tickets.admin_password)
        client = admin.user_session("CLIENT", full_name="John Client")
        project = admin.create_project("Bench")
        delays, requests = asyncio.run(
            _measure(notifier.database_url, client, project["id"], tickets_count)
        )
    finally:
        if notifier is not None:
            notifier.stop()
        tickets.stop()
        asyncio.run(delete_namespace(infra.amqp_url, namespace))
    return {
        "tickets": tickets_count,
        "p50_ms": round(statistics.median(delays) * 1000, 1),
        "p99_ms": round(percentile(delays, 0.99) * 1000, 1),
        "max_ms": round(max(delays) * 1000, 1),
        "mean_ms": round(statistics.fmean(delays) * 1000, 1),
        "request_only_p50_ms": round(statistics.median(requests) * 1000, 1),
        "request_only_p99_ms": round(percentile(requests, 0.99) * 1000, 1),
    }


async def _measure(
    database_url: str, client: TicketsApi, project_id: int, count: int
) -> tuple[list[float], list[float]]:
    """Per ticket: request start -> record visible, and request start -> response."""
    assert client.access is not None
    headers = {"Authorization": f"Bearer {client.access}"}
    body = {
        "title": "Bench ticket",
        "description": "d",
        "priority": "HIGH",
        "category": "BUG",
        "project_id": project_id,
    }
    connection = await asyncpg.connect(database_url)
    query = (
        "SELECT 1 FROM notifications WHERE notification_type = 'ticket_created'"
        " AND (ticket->>'id')::bigint = $1"
    )
    delays: list[float] = []
    requests: list[float] = []
    try:
        async with httpx.AsyncClient(base_url=client.base_url, headers=headers) as http:
            # One warm-up ticket: connections, caches and JIT-less first paths.
            await http.post("/api/tickets/", json=body)
            for _ in range(count):
                started = time.perf_counter()
                response = await http.post("/api/tickets/", json=body)
                requests.append(time.perf_counter() - started)
                assert response.status_code == 201, response.text
                ticket_id = response.json()["id"]
                while await connection.fetchval(query, ticket_id) is None:
                    if time.perf_counter() - started > 30:
                        raise SystemExit(f"ticket {ticket_id}: no record after 30 s")
                    await asyncio.sleep(0.001)
                delays.append(time.perf_counter() - started)
    finally:
        await connection.close()
    return delays, requests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--prefetch", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--tickets", type=int, default=200)
    args = parser.parse_args()
    urls = [os.environ.get(name) for name in ("DATABASE_URL", "REDIS_URL", "AMQP_URL")]
    if not all(urls):
        raise SystemExit("set DATABASE_URL, REDIS_URL and AMQP_URL (see the docstring)")
    infra = Infra(*urls)  # type: ignore[arg-type]
    infra.run_id = f"bench{infra.run_id}"
    try:
        rate = throughput(infra, args.events, args.prefetch, args.batch_size)
        delay = end_to_end(infra, args.tickets)
    finally:
        infra.drop_databases()
    result = {
        "benchmark": "notifier_throughput",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "throughput": rate,
        "end_to_end": delay,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"one consumer process: {rate['records_per_second']} records/s "
        f"({rate['events_per_second']} events/s; {rate['records']} records from "
        f"{rate['events']} events in {rate['commit_span_seconds']} s; prefetch {rate['prefetch']},"
        f" batches of up to {rate['batch_size']})"
    )
    print(
        f"tickets API request -> record committed, {delay['tickets']} tickets: "
        f"p50 {delay['p50_ms']} ms, p99 {delay['p99_ms']} ms (max {delay['max_ms']} ms); "
        f"the API request alone: p50 {delay['request_only_p50_ms']} ms, "
        f"p99 {delay['request_only_p99_ms']} ms"
    )
    print(f"written to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

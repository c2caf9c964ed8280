"""Throughput of one notifier consumer process, and end-to-end delay (a command, not a test).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \
    REDIS_URL=redis://127.0.0.1:6379/0 AMQP_URL=amqp://guest:guest@127.0.0.1:5672/ \
    .venv/bin/python bench/notifier_throughput.py [--events 3000] [--tickets 200] \
        [--rate 100 --seconds 20] [--only burst|paced|e2e]

1. Records written per second by ONE notifier consumer process (PostgreSQL, RabbitMQ,
   Redis routing on): the queue is filled with ``--events`` contract events first (a mix of
   ticket_created -> 2 admins, ticket_opened -> the client, ticket_approved -> 2 admins and 2
   developers; 2 1/3 records per event on average), then the consumer is started (it
   handles what is waiting in batches, one transaction per batch: ``--batch-size``). The rate
   is records / (last commit - first commit), from the records' ``created_at`` (written in
   the committing transaction), so process start-up is not counted. The consumer's CPU time
   (user + system, psutil) per event is measured from the first poll that finds records to
   the last, events being estimated from the records written meanwhile.
2. Paced: ``--rate`` events per second for ``--seconds``, published while the consumer runs,
   in groups of 1 to 3 (as a ticket's lifecycle steps come from the outbox relay), with
   every user present on one fake gateway so each record is routed to a stream. Reported:
   the consumer's CPU ms per event over the window (first publish -> last record
   committed), and its own ``notifier_commit_delay_seconds`` histogram (event's
   ``occurred_at``, set just before publishing, -> commit of its records): mean and p50/p99
   by bucket.
3. End-to-end delay from the tickets API request to the record's commit, p50/p99: real
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
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import httpx
import psutil
from redis import Redis

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

from incident_contracts import EventType, Names, Role, TicketStatus, UserCreated, UserUpdated  # noqa: E402
from incident_notifier.testing import ticket_event, ticket_snapshot, user_event  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "notifier_throughput.json"
ADMINS, CLIENT, DEVS = (1, 2), 3, (4, 5)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def mixed_events(count: int, first: int = 0) -> list[Any]:
    events: list[Any] = []
    for n in range(first, first + count):
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


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


async def wait_for(
    database_url: str, expected: int, within: float, process: psutil.Process | None = None
) -> tuple[int, float, tuple[float, int] | None]:
    """Poll until ``expected`` records exist; with ``process``, also its CPU seconds and
    the records written between the first poll that found some and the last poll."""
    deadline = time.monotonic() + within
    found, span = 0, 0.0
    first: tuple[float, int] | None = None
    while time.monotonic() < deadline:
        found, span = await count_and_span(database_url)
        if process is not None and found and first is None:
            first = (cpu_seconds(process), found)
        if found >= expected:
            break
        await asyncio.sleep(0.1)
    if process is None or first is None:
        return found, span, None
    return found, span, (cpu_seconds(process) - first[0], found - first[1])


def directory_events() -> list[UserCreated | UserUpdated]:
    """The users the event mix names, as the user events that fill the notifier's directory."""
    return [
        user_event(ADMINS[0], Role.ADMIN, "Ann Admin"),
        user_event(ADMINS[1], Role.ADMIN, "Abe Admin"),
        user_event(CLIENT, Role.CLIENT, "John Client"),
        user_event(DEVS[0], Role.DEVELOPER, "Alice Developer"),
        user_event(DEVS[1], Role.DEVELOPER, "Bob Support"),
    ]


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
        users = directory_events()
        batch = mixed_events(events)
        # The consumer declares the queue; start it, stop it, then fill the queue, so the
        # measured run starts with every message already waiting.
        notifier.consumer.start()
        notifier.consumer.terminate()
        asyncio.run(publish_events(infra.amqp_url, namespace, [*users, *batch]))
        expected = sum((2, 1, 4)[n % 3] for n in range(events))
        started = time.monotonic()
        notifier.consumer.start()
        process = psutil.Process(notifier.consumer.pid)
        found, span, cpu = asyncio.run(
            wait_for(notifier.database_url, expected, within=600, process=process)
        )
        wall = time.monotonic() - started
    finally:
        notifier.stop()
        asyncio.run(delete_namespace(infra.amqp_url, namespace))
    if found < expected:
        raise SystemExit(f"only {found} of {expected} records were written")
    cpu_ms_per_event = None
    if cpu is not None and cpu[1] > 0:
        # The mix writes 7 records per 3 events, and events are handled in order.
        cpu_ms_per_event = round(cpu[0] * 1000 / (cpu[1] * 3 / 7), 3)
    return {
        "events": events,
        "records": found,
        "prefetch": prefetch,
        "batch_size": batch_size,
        "commit_span_seconds": round(span, 3),
        "records_per_second": round(found / span, 1),
        "events_per_second": round(events / span, 1),
        "wall_seconds_including_startup": round(wall, 2),
        "consumer_cpu_ms_per_event": cpu_ms_per_event,
    }


FAKE_GATEWAY = "bench-gw"


def paced(infra: Infra, rate: float, seconds: float, batch_size: int) -> dict[str, Any]:
    namespace = fresh_namespace(infra)
    names = Names(namespace)
    redis = Redis.from_url(infra.redis_url)
    notifier = start_notifier(
        infra,
        "http://127.0.0.1:9",
        name=f"bench-paced-{namespace}",
        INCIDENT_NAMESPACE=namespace,
        NOTIFIER_DIRECTORY_SYNC="false",
        NOTIFIER_BATCH_SIZE=str(batch_size),
        NOTIFIER_LOG_LEVEL="WARNING",
    )
    try:
        users = directory_events()
        # Every user connected to one gateway (a presence entry far in the future), so each
        # record costs a stream entry as in the real system.
        for user in (*ADMINS, CLIENT, *DEVS):
            redis.zadd(names.presence_key(user), {FAKE_GATEWAY: 2**52})
        asyncio.run(publish_events(infra.amqp_url, namespace, users))
        time.sleep(1.0)  # the user events are handled; then the window starts
        process = psutil.Process(notifier.consumer.pid)
        cpu_before = cpu_seconds(process)
        metrics_before = commit_delays(notifier.consumer_url)
        events = asyncio.run(publish_paced(infra.amqp_url, namespace, rate, seconds))
        expected = sum((2, 1, 4)[n % 3] for n in range(events))
        found, _span, _cpu = asyncio.run(wait_for(notifier.database_url, expected, within=120))
        cpu = cpu_seconds(process) - cpu_before
        metrics = commit_delays(notifier.consumer_url)
        routed = redis.xlen(names.gateway_stream(FAKE_GATEWAY))
    finally:
        notifier.stop()
        asyncio.run(delete_namespace(infra.amqp_url, namespace))
        keys = [names.presence_key(user) for user in (*ADMINS, CLIENT, *DEVS)]
        redis.delete(*keys, names.gateway_stream(FAKE_GATEWAY))
        redis.close()
    if found < expected:
        raise SystemExit(f"only {found} of {expected} records were written")
    count = metrics["count"] - metrics_before["count"]
    total = metrics["sum"] - metrics_before["sum"]
    buckets = {le: n - metrics_before["buckets"].get(le, 0) for le, n in metrics["buckets"].items()}
    return {
        "rate": rate,
        "seconds": seconds,
        "events": events,
        "records": found,
        "routed": routed,
        "batch_size": batch_size,
        "consumer_cpu_seconds": round(cpu, 3),
        "consumer_cpu_ms_per_event": round(cpu * 1000 / events, 3),
        "consumer_cpu_percent_of_a_core": round(cpu * 100 / seconds, 1),
        "commit_delay_mean_ms": round(total * 1000 / count, 2) if count else None,
        "commit_delay_p50_le_ms": bucket_quantile(buckets, count, 0.5),
        "commit_delay_p99_le_ms": bucket_quantile(buckets, count, 0.99),
    }


async def publish_paced(amqp_url: str, namespace: str, rate: float, seconds: float) -> int:
    """Publish the mix at ``rate`` events/s for ``seconds``, in groups of 1 to 3."""
    connection = await aio_pika.connect(amqp_url, timeout=30)
    chooser = random.Random(7)
    published = 0
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(
            Names(namespace).events_exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        total = int(rate * seconds)
        started = time.monotonic()
        while published < total:
            group = min(chooser.randint(1, 3), total - published)
            # occurred_at is set now, so the consumer's commit delay is publish -> commit.
            for event in mixed_events(group, first=published):
                await exchange.publish(
                    aio_pika.Message(
                        event.model_dump_json().encode(),
                        message_id=str(event.event_id),
                        content_type="application/json",
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    ),
                    routing_key=event.event_type.value,
                )
            published += group
            pause = started + published / rate - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)
    finally:
        await connection.close()
    return published


def commit_delays(consumer_url: str) -> dict[str, Any]:
    """The consumer's commit-delay histogram: count, sum and cumulative buckets."""
    text = httpx.get(f"{consumer_url}/metrics", timeout=10).text
    result: dict[str, Any] = {"count": 0.0, "sum": 0.0, "buckets": {}}
    for line in text.splitlines():
        if line.startswith("notifier_commit_delay_seconds_count"):
            result["count"] = float(line.split()[-1])
        elif line.startswith("notifier_commit_delay_seconds_sum"):
            result["sum"] = float(line.split()[-1])
        elif line.startswith("notifier_commit_delay_seconds_bucket"):
            le = line.split('le="')[1].split('"')[0]
            result["buckets"][le] = float(line.split()[-1])
    return result


def bucket_quantile(buckets: dict[str, float], count: float, fraction: float) -> float | None:
    """The upper bound (ms) of the first histogram bucket holding ``fraction`` of events."""
    if not count:
        return None
    for le, cumulative in sorted(buckets.items(), key=lambda item: float(item[0])):
        if cumulative >= fraction * count:
            return float(le) * 1000
    return None


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
    parser.add_argument("--rate", type=float, default=100.0, help="paced mode: events/s")
    parser.add_argument("--seconds", type=float, default=20.0, help="paced mode: duration")
    parser.add_argument(
        "--only", choices=("burst", "paced", "e2e"), action="append", help="run only these"
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="where the JSON goes")
    args = parser.parse_args()
    parts = set(args.only or ("burst", "paced", "e2e"))
    urls = [os.environ.get(name) for name in ("DATABASE_URL", "REDIS_URL", "AMQP_URL")]
    if not all(urls):
        raise SystemExit("set DATABASE_URL, REDIS_URL and AMQP_URL (see the docstring)")
    infra = Infra(*urls)  # type: ignore[arg-type]
    infra.run_id = f"bench{infra.run_id}"
    result: dict[str, Any] = {
        "benchmark": "notifier_throughput",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    try:
        if "burst" in parts:
            rate = throughput(infra, args.events, args.prefetch, args.batch_size)
            result["throughput"] = rate
            print(
                f"one consumer process: {rate['records_per_second']} records/s "
                f"({rate['events_per_second']} events/s; {rate['records']} records from "
                f"{rate['events']} events in {rate['commit_span_seconds']} s; prefetch "
                f"{rate['prefetch']}, batches of up to {rate['batch_size']}); "
                f"consumer CPU {rate['consumer_cpu_ms_per_event']} ms per event"
            )
        if "paced" in parts:
            steady = paced(infra, args.rate, args.seconds, args.batch_size)
            result["paced"] = steady
            print(
                f"paced, {steady['rate']} events/s for {steady['seconds']} s "
                f"({steady['events']} events, {steady['records']} records, {steady['routed']}"
                f" routed): consumer CPU {steady['consumer_cpu_ms_per_event']} ms per event "
                f"({steady['consumer_cpu_percent_of_a_core']}% of a core); occurred -> commit "
                f"mean {steady['commit_delay_mean_ms']} ms, p50 <= "
                f"{steady['commit_delay_p50_le_ms']} ms, p99 <= "
                f"{steady['commit_delay_p99_le_ms']} ms"
            )
        if "e2e" in parts:
            delay = end_to_end(infra, args.tickets)
            result["end_to_end"] = delay
            print(
                f"tickets API request -> record committed, {delay['tickets']} tickets: "
                f"p50 {delay['p50_ms']} ms, p99 {delay['p99_ms']} ms (max {delay['max_ms']} ms);"
                f" the API request alone: p50 {delay['request_only_p50_ms']} ms, "
                f"p99 {delay['request_only_p99_ms']} ms"
            )
    finally:
        infra.drop_databases()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Delivery latency of ws-gateway, through the real processes.

Starts tickets, the notifier (API + consumer) and TWO gateway instances over the real
PostgreSQL, RabbitMQ and Redis (DATABASE_URL, AMQP_URL, REDIS_URL), connects R admins split
over both instances, and has a client create N tickets at a steady pace: each creation is
one notification per admin (fan-out R). For every notification it measures:

- route -> receipt: from the notifier's routing of the record (right after its commit; the
  ``t`` field of the gateway stream entry, read from Redis) to the client's receipt;
- API -> receipt: from the ticket creation's HTTP response (the tickets commit) to receipt,
  which adds the outbox relay, RabbitMQ and the notifier's processing.

Prints p50/p90/p99/max and writes bench/results/gateway_latency.json. With ``--direct`` the
script routes the entries itself to the two gateways (no tickets, no notifier: the gateways'
own share of the latency) and writes bench/results/gateway_latency_direct.json.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \
    REDIS_URL=redis://127.0.0.1:6379/0 AMQP_URL=amqp://guest:guest@127.0.0.1:5672/ \
    .venv/bin/python bench/gateway_latency.py [--admins 20] [--tickets 100] [--rate 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from harness.api import TicketsApi  # noqa: E402
from harness.gateway import JwksServer, RunningGateway, TokenMint, start_gateway  # noqa: E402
from harness.infra import Infra, provide_infra  # noqa: E402
from harness.notifier import start_notifier  # noqa: E402
from harness.tickets import start_tickets  # noqa: E402
from websockets.asyncio.client import ClientConnection, connect  # noqa: E402

from incident_contracts.names import Names  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "gateway_latency.json"


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def at(fraction: float) -> float:
        return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]

    return {
        "count": len(ordered),
        "p50_ms": round(at(0.50) * 1000, 2),
        "p90_ms": round(at(0.90) * 1000, 2),
        "p99_ms": round(at(0.99) * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 2),
    }


class Tap:
    """Reads the gateways' delivery streams (XREAD does not consume) for the routing times."""

    def __init__(self, redis_url: str, streams: list[str]) -> None:
        self._client = aioredis.Redis.from_url(redis_url)
        self._streams = streams
        self.routed_at: dict[tuple[int, int], float] = {}

    async def run(self, stop: asyncio.Event) -> None:
        positions: dict[str, str] = {}
        for stream in self._streams:
            last: Any = await self._client.xrevrange(stream, "+", "-", count=1)
            positions[stream] = last[0][0].decode() if last else "0-0"
        while not stop.is_set():
            answer: Any = await self._client.xread(positions, block=200, count=1000)  # type: ignore[arg-type]
            for raw_stream, entries in answer or []:
                stream = raw_stream.decode()
                for entry_id, fields in entries:
                    positions[stream] = entry_id.decode()
                    key = (int(fields[b"u"]), int(fields[b"s"]))
                    self.routed_at[key] = int(fields[b"t"]) / 1000

    async def close(self) -> None:
        await self._client.aclose()


async def listen(
    ws: ClientConnection,
    user_id: int,
    receipts: dict[tuple[int, int], tuple[float, int]],
    expected: int,
    done: asyncio.Event,
) -> None:
    async for message in ws:
        received = time.time()
        notification = json.loads(message)
        receipts[(user_id, notification["seq"])] = (received, notification["ticket"]["id"])
        if len(receipts) >= expected:
            done.set()


async def drive(
    args: argparse.Namespace,
    infra: Infra,
    gateways: list[RunningGateway],
    admins: list[tuple[int, str]],
    client: TicketsApi,
    project_id: int,
) -> dict[str, Any]:
    names = Names(infra.namespace)
    tap = Tap(infra.redis_url, [names.gateway_stream(g.instance_id) for g in gateways])
    stop = asyncio.Event()
    tap_task = asyncio.create_task(tap.run(stop))
    receipts: dict[tuple[int, int], tuple[float, int]] = {}
    sockets = [
        await connect(gateways[index % len(gateways)].ws(token), ping_interval=None)
        for index, (_, token) in enumerate(admins)
    ]
    expected = args.tickets * len(admins)
    done = asyncio.Event()
    readers = [
        asyncio.create_task(listen(ws, user_id, receipts, expected, done))
        for ws, (user_id, _) in zip(sockets, admins, strict=True)
    ]
    await asyncio.sleep(0.5)
    committed: dict[int, float] = {}
    interval = 1.0 / args.rate
    async with httpx.AsyncClient(
        base_url=client.base_url, headers={"Authorization": f"Bearer {client.access}"}
    ) as http:
        started = time.monotonic()
        for number in range(args.tickets):
            response = await http.post(
                "/api/tickets/",
                json={
                    "title": f"Latency {number}",
                    "description": "bench",
                    "priority": "HIGH",
                    "category": "BUG",
                    "project_id": project_id,
                },
            )
            response.raise_for_status()
            committed[response.json()["id"]] = time.time()
            await asyncio.sleep(max(0.0, started + (number + 1) * interval - time.monotonic()))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), timeout=60)
    await asyncio.sleep(0.3)  # let the tap read the last entries
    stop.set()
    await tap_task
    await tap.close()
    for reader in readers:
        reader.cancel()
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    await asyncio.gather(*readers, return_exceptions=True)

    histogram = [gateway.metrics() for gateway in gateways]
    written = sum(m.get("gateway_delivery_latency_seconds_count", 0.0) for m in histogram)
    written_sum = sum(m.get("gateway_delivery_latency_seconds_sum", 0.0) for m in histogram)
    route_to_receipt = [
        received - tap.routed_at[key]
        for key, (received, _) in receipts.items()
        if key in tap.routed_at
    ]
    api_to_receipt = [
        received - committed[ticket_id]
        for received, ticket_id in receipts.values()
        if ticket_id in committed
    ]
    return {
        "expected_notifications": expected,
        "received_notifications": len(receipts),
        "route_to_receipt": percentiles(route_to_receipt),
        "api_to_receipt": percentiles(api_to_receipt),
        # The gateways' own histogram: routing -> write to the socket (no client in it).
        "route_to_write_mean_ms": round(written_sum / written * 1000, 2) if written else None,
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


async def drive_direct(
    args: argparse.Namespace, redis_url: str, gateways: list[RunningGateway], mint: TokenMint
) -> dict[str, Any]:
    """The gateways alone: this script routes the entries itself, as the notifier does."""
    users = list(range(1, args.admins + 1))
    receipts: dict[tuple[int, int], tuple[float, int]] = {}
    expected = args.tickets * len(users)
    done = asyncio.Event()
    sockets = [
        await connect(gateways[index % len(gateways)].ws(mint.access(user)), ping_interval=None)
        for index, user in enumerate(users)
    ]
    readers = [
        asyncio.create_task(listen(ws, user, receipts, expected, done))
        for ws, user in zip(sockets, users, strict=True)
    ]
    await asyncio.sleep(0.5)
    names = Names(gateways[0].namespace)
    client = aioredis.Redis.from_url(redis_url)
    routed_at: dict[tuple[int, int], float] = {}
    interval = 1.0 / args.rate
    started = time.monotonic()
    for number in range(1, args.tickets + 1):
        now = time.time()
        async with client.pipeline(transaction=False) as pipe:
            for index, user in enumerate(users):
                frame = json.dumps({"seq": number, "ticket": {"id": number}})
                stream = names.gateway_stream(gateways[index % len(gateways)].instance_id)
                pipe.xadd(stream, {"u": user, "s": number, "n": frame, "t": int(now * 1000)})
                routed_at[(user, number)] = now
            await pipe.execute()
        await asyncio.sleep(max(0.0, started + number * interval - time.monotonic()))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), timeout=60)
    await client.aclose()
    for reader in readers:
        reader.cancel()
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    await asyncio.gather(*readers, return_exceptions=True)
    latencies = [received - routed_at[key] for key, (received, _) in receipts.items()]
    return {
        "expected_notifications": expected,
        "received_notifications": len(receipts),
        "route_to_receipt": percentiles(latencies),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def run_direct(args: argparse.Namespace) -> int:
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    infra = Infra(database_url="", redis_url=redis_url, amqp_url="")
    mint = TokenMint()
    with JwksServer(mint).running() as jwks:
        gateways = [
            start_gateway(
                infra, jwks.url, "http://127.0.0.1:9", f"{name}-{infra.run_id}", log_level="WARNING"
            )
            for name in ("a", "b")
        ]
        try:
            figures = asyncio.run(drive_direct(args, redis_url, gateways, mint))
        finally:
            for gateway in gateways:
                gateway.stop()
    result = {
        "benchmark": "gateway_latency_direct",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "gateways": 2,
        "users": args.admins,
        "batches": args.tickets,
        "rate_per_second": args.rate,
        **figures,
    }
    results = RESULTS.with_name("gateway_latency_direct.json")
    results.write_text(json.dumps(result, indent=2) + "\n")
    route = figures["route_to_receipt"]
    print(
        f"{figures['received_notifications']}/{figures['expected_notifications']} deliveries "
        f"routed by this script ({args.tickets} x {args.admins} users over 2 gateways)\n"
        f"  route -> client receipt: p50 {route['p50_ms']} ms, p99 {route['p99_ms']} ms, "
        f"max {route['max_ms']} ms (load average {figures['load_average_1m']})\n"
        f"  written to {results.relative_to(ROOT)}"
    )
    return 0 if figures["received_notifications"] == figures["expected_notifications"] else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--admins", type=int, default=20, help="connected recipients (fan-out)")
    parser.add_argument("--tickets", type=int, default=100, help="tickets created")
    parser.add_argument("--rate", type=float, default=20.0, help="tickets created per second")
    parser.add_argument(
        "--direct",
        action="store_true",
        help="the gateways alone: route entries from this script (only REDIS_URL needed)",
    )
    args = parser.parse_args()
    if args.direct:
        return run_direct(args)
    with provide_infra() as infra:
        tickets = start_tickets(infra)
        notifier = start_notifier(infra, tickets.url)
        gateways: list[RunningGateway] = []
        try:
            for name in ("a", "b"):
                gateways.append(
                    start_gateway(
                        infra,
                        tickets.url,
                        notifier.url,
                        f"{name}-{infra.run_id}",
                        log_level="WARNING",
                    )
                )
            admin = TicketsApi(tickets.url).login_as(tickets.admin_username, tickets.admin_password)
            admins: list[tuple[int, str]] = []
            for _ in range(args.admins):
                session = admin.user_session("ADMIN")
                assert session.user is not None
                assert session.access is not None
                admins.append((session.user["id"], session.access))
            client = admin.user_session("CLIENT")
            project = admin.create_project()
            figures = asyncio.run(drive(args, infra, gateways, admins, client, project["id"]))
        finally:
            for gateway in gateways:
                gateway.stop()
            notifier.stop()
            tickets.stop()
    result = {
        "benchmark": "gateway_latency",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "gateways": 2,
        "admins": args.admins,
        "tickets": args.tickets,
        "rate_per_second": args.rate,
        **figures,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    route, api = figures["route_to_receipt"], figures["api_to_receipt"]
    print(
        f"{figures['received_notifications']}/{figures['expected_notifications']} notifications "
        f"({args.tickets} tickets x {args.admins} admins over 2 gateways, {args.rate:g}/s)\n"
        f"  notifier route -> client receipt: p50 {route['p50_ms']} ms, p99 {route['p99_ms']} ms, "
        f"max {route['max_ms']} ms\n"
        f"  tickets API commit -> client receipt: p50 {api['p50_ms']} ms, p99 {api['p99_ms']} ms, "
        f"max {api['max_ms']} ms\n"
        f"  gateways' own route -> socket write mean: {figures['route_to_write_mean_ms']} ms "
        f"(load average {figures['load_average_1m']} on {os.cpu_count()} cores)\n"
        f"  written to {RESULTS.relative_to(ROOT)}"
    )
    return 0 if figures["received_notifications"] == figures["expected_notifications"] else 1


if __name__ == "__main__":
    raise SystemExit(main())

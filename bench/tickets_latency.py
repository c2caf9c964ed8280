"""Latency of ticket transitions and of the outbox (a command, not a test).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \
    AMQP_URL=amqp://guest:guest@127.0.0.1:5672/ \
    .venv/bin/python bench/tickets_latency.py --rate 10 --lifecycles 200

``--rate R`` starts R lifecycles per second whatever the answers (open loop: the latency at
that load); ``--rate 0`` runs ``--concurrency`` lifecycles back to back instead (closed loop:
the throughput at saturation).

Starts the tickets service on a fresh PostgreSQL database with its own namespace (or uses
``--base URL`` with ``--database-url`` of that service's database), drives N full lifecycles
(create, open, assign, start, finish, approve) over HTTP, then reports:

- p50/p99 latency of the transition requests (open, assign, start, finish, approve), as the
  client sees them;
- p50/p99 delay from commit to broker confirm, from the service's own histogram
  ``tickets_outbox_commit_to_confirm_seconds`` (exact per event: the relay knows when its
  process committed each event; the percentiles are interpolated within the buckets);
- p50/p99 delay from the outbox write to the confirm, per event, from the outbox table
  (``sent_at - created_at``): the same path plus the commit itself, an upper bound;
- the CPU time (user + system) the tickets process (and the relay's, with
  ``--separate-relay``) spent per request over the measured window, the figure least
  disturbed by other load on the machine (only when the benchmark started the service).

Figures are printed and written as JSON to ``bench/results/``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import psutil

RESULTS = Path(__file__).resolve().parent / "results"
TRANSITIONS = ("open", "assign", "start", "finish", "approve")
PASSWORD = "bench-password"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def summary(values_ms: list[float]) -> dict[str, float]:
    return {
        "count": len(values_ms),
        "p50_ms": round(percentile(values_ms, 50), 3),
        "p99_ms": round(percentile(values_ms, 99), 3),
        "mean_ms": round(statistics.fmean(values_ms), 3) if values_ms else float("nan"),
        "max_ms": round(max(values_ms), 3) if values_ms else float("nan"),
    }


def _dsn(url: str, database: str | None = None) -> str:
    parts = urlsplit(url)
    scheme = "postgresql"
    path = f"/{database}" if database else parts.path
    return urlunsplit(parts._replace(scheme=scheme, path=path))


class Service:
    """The tickets service started for the run, on a database of its own."""

    def __init__(self, database_url: str, amqp_url: str, *, separate_relay: bool = False) -> None:
        self.separate_relay = separate_relay
        self.relay: subprocess.Popen[bytes] | None = None
        self.admin_url = database_url
        self.database = f"bench_tickets_{secrets.token_hex(4)}"
        self.database_url = _dsn(database_url, self.database)
        self.amqp_url = amqp_url
        self.process: subprocess.Popen[bytes] | None = None
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.relay_port = sock.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.metrics_base = self.base

    async def start(self) -> None:
        connection = await asyncpg.connect(_dsn(self.admin_url))
        try:
            await connection.execute(f'CREATE DATABASE "{self.database}"')
        finally:
            await connection.close()
        env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "AMQP_URL": self.amqp_url,
            "INCIDENT_NAMESPACE": f"bench{secrets.token_hex(3)}",
            "TICKETS_PORT": str(self.port),
            "TICKETS_DATA_DIR": tempfile.mkdtemp(prefix="bench-tickets-"),
            "TICKETS_LOG_LEVEL": "WARNING",
            "BOOTSTRAP_ADMIN_USERNAME": "admin",
            "BOOTSTRAP_ADMIN_PASSWORD": PASSWORD,
            "TICKETS_RELAY_PORT": str(self.relay_port),
        }
        if self.separate_relay:
            # The relay in a process of its own (woken by NOTIFY): its metrics are there.
            env["TICKETS_EMBEDDED_RELAY"] = "false"
            self.metrics_base = f"http://127.0.0.1:{self.relay_port}"
        self.process = _spawn(env, "api")
        if self.separate_relay:
            self.relay = _spawn(env, "relay")
        async with httpx.AsyncClient() as http:
            for _ in range(300):
                try:
                    ready = [await http.get(f"{self.base}/readyz")]
                    if self.separate_relay:
                        ready.append(await http.get(f"{self.metrics_base}/readyz"))
                    if all(response.status_code == 200 for response in ready):
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError("the tickets service did not become ready")

    async def stop(self) -> None:
        for process in (self.relay, self.process):
            if process is not None:
                process.terminate()
                process.wait(20)
        connection = await asyncpg.connect(_dsn(self.admin_url))
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        finally:
            await connection.close()


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        times = process.cpu_times()
        total += times.user + times.system
    return total


def _spawn(env: dict[str, str], role: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "incident_tickets", role], env=env, stderr=subprocess.DEVNULL
    )


class Driver:
    def __init__(self, http: httpx.AsyncClient, password: str) -> None:
        self.http = http
        self.password = password
        self.latencies: dict[str, list[float]] = {name: [] for name in ("create", *TRANSITIONS)}

    async def call(
        self, name: str | None, method: str, path: str, token: str | None, body: Any = None
    ) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        started = time.perf_counter()
        response = await self.http.request(method, path, json=body, headers=headers)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code not in (200, 201):
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")
        if name is not None:
            self.latencies[name].append(elapsed)
        return response.json()

    async def login(self, username: str) -> str:
        body = await self.call(
            None,
            "POST",
            "/api/auth/login/",
            None,
            {"username": username, "password": self.password},
        )
        token: str = body["access"]
        return token

    async def user(self, admin: str, role: str, number: int) -> tuple[int, str]:
        name = f"bench-{role.lower()}-{number}-{secrets.token_hex(2)}"
        user = await self.call(
            None,
            "POST",
            "/api/users/",
            admin,
            {"username": name, "password": self.password, "full_name": name, "role": role},
        )
        return user["id"], await self.login(name)

    async def lifecycle(
        self, admin: str, client: str, dev_id: int, dev: str, project_id: int
    ) -> None:
        ticket = await self.call(
            "create",
            "POST",
            "/api/tickets/",
            client,
            {
                "title": "Benchmark ticket",
                "description": "measured",
                "priority": "HIGH",
                "category": "BUG",
                "project_id": project_id,
            },
        )
        path = f"/api/tickets/{ticket['id']}"
        await self.call("open", "POST", f"{path}/open/", admin)
        await self.call("assign", "POST", f"{path}/assign/", admin, {"developer_ids": [dev_id]})
        await self.call("start", "POST", f"{path}/start/", dev)
        await self.call("finish", "POST", f"{path}/finish/", dev)
        await self.call("approve", "POST", f"{path}/approve/", client)


HISTOGRAM = "tickets_outbox_commit_to_confirm_seconds"


async def histogram(http: httpx.AsyncClient, base: str) -> dict[float, float]:
    """Cumulative bucket counts of the commit->confirm histogram, by upper bound."""
    text = (await http.get(f"{base}/metrics")).text
    buckets: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith(f"{HISTOGRAM}_bucket{{"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets[float(bound)] = float(line.rsplit(" ", 1)[1])
    return buckets


def histogram_percentile(buckets: dict[float, float], q: float) -> float:
    """The q-th percentile in ms, interpolated linearly inside its bucket."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]] if bounds else 0
    if not total:
        return float("nan")
    rank = q / 100 * total
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if bound == float("inf"):
                return lower * 1000
            inside = count - below
            fraction = (rank - below) / inside if inside else 1.0
            return (lower + (bound - lower) * fraction) * 1000
        lower, below = bound, count
    return lower * 1000


async def commit_to_confirm(database_url: str, after_id: int) -> tuple[list[float], int]:
    """Per event (outbox id > after_id): ms from the outbox write to the confirm mark."""
    connection = await asyncpg.connect(_dsn(database_url))
    try:
        for _ in range(600):
            unsent = await connection.fetchval(
                "SELECT count(*) FROM outbox WHERE id > $1 AND sent_at IS NULL", after_id
            )
            if unsent == 0:
                break
            await asyncio.sleep(0.1)
        rows = await connection.fetch(
            "SELECT EXTRACT(EPOCH FROM (sent_at - created_at)) * 1000 AS ms "
            "FROM outbox WHERE id > $1 AND sent_at IS NOT NULL ORDER BY id",
            after_id,
        )
    finally:
        await connection.close()
    return [float(row["ms"]) for row in rows], int(unsent)


async def last_outbox_id(database_url: str) -> int:
    connection = await asyncpg.connect(_dsn(database_url))
    try:
        return int(await connection.fetchval("SELECT coalesce(max(id), 0) FROM outbox"))
    finally:
        await connection.close()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    service: Service | None = None
    base, database_url = args.base, args.database_url
    metrics_base = args.metrics_base or base
    if base is None:
        if not args.database_url or not args.amqp_url:
            raise SystemExit("set DATABASE_URL and AMQP_URL (or pass --base and --database-url)")
        service = Service(args.database_url, args.amqp_url, separate_relay=args.separate_relay)
        await service.start()
        base, database_url = service.base, service.database_url
        metrics_base = service.metrics_base
    try:
        # Idle connections are dropped well before uvicorn's 5 s keep-alive timeout: at the
        # same expiry a request could go out on a connection the server was just closing.
        limits = httpx.Limits(max_connections=max(args.concurrency * 2, 64), keepalive_expiry=2.0)
        async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:
            # Users created here get the admin's password, so one secret serves the whole run.
            driver = Driver(http, args.admin_password if service is None else PASSWORD)
            admin = await driver.login(args.admin_username)
            project = await driver.call(None, "POST", "/api/projects/", admin, {"name": "Bench"})
            workers = []
            for number in range(args.concurrency):
                dev_id, dev = await driver.user(admin, "DEVELOPER", number)
                _, client = await driver.user(admin, "CLIENT", number)
                workers.append((client, dev_id, dev))
            before = await last_outbox_id(database_url) if database_url else 0
            for _ in range(args.warmup):
                await driver.lifecycle(
                    admin, workers[0][0], workers[0][1], workers[0][2], project["id"]
                )
            driver.latencies = {name: [] for name in driver.latencies}
            if database_url:
                before = await last_outbox_id(database_url)
            queue: asyncio.Queue[int] = asyncio.Queue()
            for number in range(args.lifecycles):
                queue.put_nowait(number)

            async def worker(client: str, dev_id: int, dev: str) -> None:
                while not queue.empty():
                    queue.get_nowait()
                    await driver.lifecycle(admin, client, dev_id, dev, project["id"])

            async def paced() -> None:
                # Open loop: lifecycle n starts at n / rate seconds, answered or not.
                loop = asyncio.get_running_loop()
                start = loop.time()
                running = []
                for number in range(args.lifecycles):
                    await asyncio.sleep(max(0.0, start + number / args.rate - loop.time()))
                    client, dev_id, dev = workers[number % len(workers)]
                    running.append(
                        asyncio.create_task(
                            driver.lifecycle(admin, client, dev_id, dev, project["id"])
                        )
                    )
                await asyncio.gather(*running)

            # Let the warm-up's events be confirmed before the histogram's starting point.
            await asyncio.sleep(0.5)
            buckets_before = await histogram(http, metrics_base)
            measured = (
                [psutil.Process(p.pid) for p in (service.process, service.relay) if p]
                if service is not None
                else []
            )
            cpu_before = cpu_seconds(measured)
            started = time.perf_counter()
            if args.rate > 0:
                await paced()
            else:
                await asyncio.gather(*(worker(*w) for w in workers))
            wall = time.perf_counter() - started
            # The relay finishes after the last answer: wait for the confirms before the
            # CPU reading so that their share is counted.
            delays, unsent = (
                await commit_to_confirm(database_url, before) if database_url else ([], 0)
            )
            cpu = cpu_seconds(measured) - cpu_before
            buckets_after = await histogram(http, metrics_base)
    finally:
        if service is not None:
            await service.stop()

    transitions = [ms for name in TRANSITIONS for ms in driver.latencies[name]]
    requests = len(transitions) + len(driver.latencies["create"])
    run_buckets = {
        bound: count - buckets_before.get(bound, 0) for bound, count in buckets_after.items()
    }
    return {
        "measured_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "lifecycles": args.lifecycles,
        "mode": (
            f"open loop, {args.rate} lifecycles/s"
            if args.rate > 0
            else f"closed loop, {args.concurrency} concurrent lifecycles"
        )
        + (", relay in its own process" if args.separate_relay else ", relay embedded"),
        "lifecycles_per_second": round(args.lifecycles / wall, 2),
        "wall_seconds": round(wall, 3),
        "transition_requests": summary(transitions),
        "per_transition": {name: summary(driver.latencies[name]) for name in TRANSITIONS},
        "create_requests": summary(driver.latencies["create"]),
        "commit_to_confirm": {
            "count": int(run_buckets.get(float("inf"), 0)),
            "p50_ms": round(histogram_percentile(run_buckets, 50), 3),
            "p99_ms": round(histogram_percentile(run_buckets, 99), 3),
            "source": f"{HISTOGRAM} (service histogram, interpolated within buckets)",
        },
        "outbox_write_to_confirm": summary(delays)
        | {"unsent_at_end": unsent, "source": "outbox table: sent_at - created_at"},
        "service_cpu": {
            "requests": requests,
            "cpu_seconds": round(cpu, 3),
            "ms_per_request": round(cpu * 1000 / requests, 3) if measured else float("nan"),
            "source": "psutil cpu_times (user + system) of the service's processes",
        },
        "python": sys.version.split()[0],
        # The machine is shared: the load it carried says how much these figures are worth.
        "load_average_1_5_15": [round(value, 2) for value in os.getloadavg()],
        "cpus": os.cpu_count(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--lifecycles", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0, help="lifecycles per second")
    parser.add_argument("--concurrency", type=int, default=4, help="with --rate 0")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--base", help="a running tickets service instead of starting one")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--amqp-url", default=os.environ.get("AMQP_URL"))
    parser.add_argument(
        "--separate-relay",
        action="store_true",
        help="run the relay as its own process (`relay` role) instead of inside the API",
    )
    parser.add_argument("--output", type=Path, help="the JSON file (default: bench/results/)")
    parser.add_argument("--metrics-base", help="with --base: where the relay's /metrics is")
    parser.add_argument("--admin-username", default="admin")
    parser.add_argument(
        "--admin-password",
        default=os.environ.get("BOOTSTRAP_ADMIN_PASSWORD", PASSWORD),
        help="with --base: the bootstrap admin's password (users created get the same one)",
    )
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(
        f"lifecycles: {result['lifecycles']} x 5 transitions, "
        f"{result['mode']}: {result['wall_seconds']} s, "
        f"{result['lifecycles_per_second']} lifecycles/s"
    )
    rows = [("transition requests", result["transition_requests"])]
    rows += [(f"  {name}", figures) for name, figures in result["per_transition"].items()]
    rows += [("commit -> confirm", result["commit_to_confirm"])]
    rows += [("outbox write -> conf", result["outbox_write_to_confirm"])]
    for label, f in rows:
        print(f"{label:20s} n={f['count']:<5} p50={f['p50_ms']:8.2f} ms  p99={f['p99_ms']:8.2f} ms")
    cpu = result["service_cpu"]
    print(
        f"service CPU          {cpu['cpu_seconds']} s for {cpu['requests']} requests: "
        f"{cpu['ms_per_request']:.3f} ms per request"
    )
    shape = f"rate{args.rate:g}" if args.rate > 0 else f"closed{args.concurrency}"
    relay = "_separate_relay" if args.separate_relay else ""
    out = args.output or RESULTS / f"tickets_latency_{shape}{relay}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

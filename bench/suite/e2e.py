"""Part 1 and 2: full ticket lifecycles at stepped rates through the public API, end to end.

Provisions admins, developers and clients through the API, holds one WebSocket per user (two
for every tenth), drives lifecycles open loop (each step starts R lifecycles per second,
whatever the answers, then waits for them and their notifications), and for each step
compares the notifications API.md's rules expect with the frames received.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
import orjson
import psutil
from bench.suite.common import (
    Histogram,
    ProcessSampler,
    load_average,
    ms,
    parse_metrics,
    percentile,
    processes_named,
    with_children,
)
from bench.suite.stack import Target
from yarl import URL

PASSWORD = "bench-password-1"
# (histogram, where it is exposed, what it measures) for part 2.
STAGES = (
    ("tickets_request_to_commit_seconds", "tickets", "request -> commit (tickets)"),
    ("tickets_outbox_commit_to_confirm_seconds", "tickets", "commit -> broker confirm (relay)"),
    (
        "notifier_commit_delay_seconds",
        "consumer",
        "event occurred (commit) -> records committed (notifier)",
    ),
    ("gateway_delivery_latency_seconds", "gateways", "record routed -> gateway send"),
)

# The load generator must stay cheap next to the system it measures: what does not change
# between requests is built once (bodies, headers, URLs), and frames are read as bytes.
REJECTION = orjson.dumps({"comment": "not yet"})
JSON_ONLY = {"Content-Type": "application/json"}
WebSocket = aiohttp.ClientWebSocketResponse[Literal[False]]  # text frames left undecoded
DATA = (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY)


@dataclass
class User:
    id: int
    role: str
    token: str
    headers: dict[str, str]  # the bearer token and the JSON content type, for every request

    @classmethod
    def signed_in(cls, user_id: int, role: str, token: str) -> User:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        return cls(user_id, role, token, headers)


# (ticket id, notification type) -> receipt times, in arrival order
Frames = dict[tuple[int, str], list[float]]


@dataclass
class Connection:
    user: User
    frames: Frames = field(default_factory=lambda: defaultdict(list))
    ids: Counter[str] = field(default_factory=Counter)


@dataclass
class Step:
    rate: float
    started: int = 0
    completed: int = 0
    failed: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    http_latencies: list[float] = field(default_factory=list)
    # (ticket id, notification type) -> send times of the requests that trigger it, in order
    sent: dict[tuple[int, str], list[float]] = field(default_factory=lambda: defaultdict(list))
    # (ticket id, notification type) -> recipients' user ids, once per triggering request
    expected: dict[tuple[int, str], list[set[int]]] = field(
        default_factory=lambda: defaultdict(list)
    )


class Driver:
    def __init__(self, target: Target, http: aiohttp.ClientSession) -> None:
        self.target = target
        self.http = http
        self.base = target.base_url.rstrip("/")
        self.admins: list[User] = []
        self.developers: list[User] = []
        self.clients: list[User] = []
        self.connections: list[Connection] = []
        self.project_id = 0
        self._lifecycle_numbers = itertools.count(1)
        # The assignment's body for each first developer (the second is the next one).
        self._assignments: list[bytes] = []

    # --- provisioning ------------------------------------------------------------------------
    async def _post(self, path: str, content: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """POST ``content`` to ``path``: the status and the whole body of the answer."""
        url = URL(self.base + path, encoded=True)  # already encoded: no parsing to redo
        async with self.http.post(url, data=content, headers=headers) as response:
            return response.status, await response.read()

    async def _provisioning_post(
        self, path: str, body: dict[str, Any], headers: dict[str, str]
    ) -> dict[str, Any]:
        status, answer = await self._post(path, orjson.dumps(body), headers)
        if not 200 <= status < 300:
            raise RuntimeError(f"POST {path}: {status} {answer[:200]!r}")
        parsed: dict[str, Any] = orjson.loads(answer)
        return parsed

    async def _login(self, username: str, password: str) -> tuple[str, dict[str, Any]]:
        body = await self._provisioning_post(
            "/api/auth/login/", {"username": username, "password": password}, JSON_ONLY
        )
        return body["access"], body["user"]

    async def provision(self, admins: int, developers: int, clients: int) -> None:
        token, me = await self._login(self.target.admin_username, self.target.admin_password)
        self.admins.append(User.signed_in(me["id"], "ADMIN", token))
        boss = self.admins[0].headers
        project = {"name": f"bench {time.time():.0f}"}
        self.project_id = (await self._provisioning_post("/api/projects/", project, boss))["id"]
        gate = asyncio.Semaphore(8)
        tag = os.urandom(3).hex()

        async def one(role: str, number: int) -> User:
            async with gate:
                username = f"bench-{tag}-{role.lower()}-{number}"
                created = {
                    "username": username,
                    "password": PASSWORD,
                    "full_name": f"Bench {role.title()} {number}",
                    "role": role,
                }
                await self._provisioning_post("/api/users/", created, boss)
                access, user = await self._login(username, PASSWORD)
                return User.signed_in(user["id"], role, access)

        plan = [("ADMIN", n) for n in range(admins)]
        plan += [("DEVELOPER", n) for n in range(developers)]
        plan += [("CLIENT", n) for n in range(clients)]
        for user in await asyncio.gather(*(one(role, n) for role, n in plan)):
            {"ADMIN": self.admins, "DEVELOPER": self.developers, "CLIENT": self.clients}[
                user.role
            ].append(user)
        self._assignments = [
            orjson.dumps({"developer_ids": [first.id, second.id]})
            for first, second in zip(
                self.developers, self.developers[1:] + self.developers[:1], strict=True
            )
        ]

    async def connect_all(self, sockets: aiohttp.ClientSession) -> list[asyncio.Task[None]]:
        users = [*self.admins, *self.developers, *self.clients]
        devices = [
            user for index, user in enumerate(users) for _ in range(2 if index % 10 == 0 else 1)
        ]
        opened: list[WebSocket] = []
        for start in range(0, len(devices), 50):
            opened += await asyncio.gather(
                *(
                    sockets.ws_connect(
                        f"{self.target.ws_url}?token={user.token}", decode_text=False
                    )
                    for user in devices[start : start + 50]
                )
            )
        self.connections = [Connection(user) for user in devices]
        return [
            asyncio.create_task(self._listen(ws, connection))
            for ws, connection in zip(opened, self.connections, strict=True)
        ]

    @staticmethod
    async def _listen(ws: WebSocket, connection: Connection) -> None:
        with contextlib.suppress(Exception):
            async for message in ws:  # ends at the close; pings are answered by aiohttp
                now = time.perf_counter()
                if message.type not in DATA:
                    continue
                frame = orjson.loads(message.data)
                if "notification_type" not in frame:
                    continue
                connection.ids[frame["id"]] += 1
                connection.frames[(frame["ticket"]["id"], frame["notification_type"])].append(now)
        with contextlib.suppress(Exception):
            await ws.close()

    # --- one lifecycle -----------------------------------------------------------------------
    async def _call(self, step: Step, user: User, path: str, content: bytes) -> tuple[float, bytes]:
        """One lifecycle request: when it was sent, and the answer's body, left unparsed (only
        the creation's id is ever read)."""
        sent = time.perf_counter()
        status, body = await self._post(path, content, user.headers)
        step.http_latencies.append(time.perf_counter() - sent)
        if status not in (200, 201):
            raise RuntimeError(f"{path.split('/')[-2]} {status}")
        return sent, body

    async def lifecycle(self, step: Step) -> None:
        number = next(self._lifecycle_numbers)
        client = self.clients[number % len(self.clients)]
        admin = self.admins[number % len(self.admins)]
        first = self.developers[number % len(self.developers)]
        second = self.developers[(number + 1) % len(self.developers)]
        developers = {first.id, second.id}
        admin_ids = {user.id for user in self.admins}
        step.started += 1
        try:
            creation = {
                "title": f"Bench ticket {number}",
                "description": "a lifecycle of the benchmark",
                "priority": "HIGH",
                "category": "BUG",
                "project_id": self.project_id,
            }
            sent, ticket = await self._call(step, client, "/api/tickets/", orjson.dumps(creation))
            tid = orjson.loads(ticket)["id"]
            step.sent[(tid, "ticket_created")].append(sent)
            step.expected[(tid, "ticket_created")].append(admin_ids)
            base = f"/api/tickets/{tid}/"
            assignment = self._assignments[number % len(self.developers)]
            actions: list[tuple[User, str, bytes, str, set[int]]] = [
                (admin, "open/", b"", "ticket_opened", {client.id}),
                (admin, "assign/", assignment, "ticket_assigned", developers - {admin.id}),
                (first, "start/", b"", "work_started", {client.id}),
                (second, "finish/", b"", "work_finished", {client.id}),
            ]
            if number % 5 == 0:
                actions += [
                    (client, "reject/", REJECTION, "ticket_rejected", admin_ids | developers),
                    (first, "finish/", b"", "work_finished", {client.id}),
                ]
            actions.append((client, "approve/", b"", "ticket_approved", admin_ids | developers))
            for actor, action, content, kind, recipients in actions:
                sent, _ = await self._call(step, actor, base + action, content)
                step.sent[(tid, kind)].append(sent)
                step.expected[(tid, kind)].append(recipients - {actor.id})
            step.completed += 1
        except Exception as error:  # a failed lifecycle is counted, not fatal
            step.failed += 1
            step.errors[str(error)[:80]] += 1

    # --- a step ------------------------------------------------------------------------------
    async def run_step(self, rate: float, seconds: float, drain: float) -> Step:
        step = Step(rate)
        for connection in self.connections:  # each step counts only its own tickets
            connection.frames.clear()
            connection.ids.clear()
        tasks: list[asyncio.Task[None]] = []
        interval = 1.0 / rate
        started = time.perf_counter()
        for index in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, started + index * interval - time.perf_counter()))
            tasks.append(asyncio.create_task(self.lifecycle(step)))
        _, pending = await asyncio.wait(tasks, timeout=60)
        for task in pending:  # an overloaded step must not spill into the next one
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
            step.failed += len(pending)
            step.errors["unfinished 60 s after the step"] += len(pending)
        # Bounded: the step's notifications, or give up. What is expected is known from here
        # on, so each look checks only the (connection, notification) pairs still short.
        short = self._expectations(step)
        for _ in range(int(drain / 0.2)):
            short = [(frames, key, n) for frames, key, n in short if len(frames.get(key, ())) < n]
            if not short:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.3)  # a duplicate arriving late is still counted
        return step

    def _per_connection_expected(self, step: Step) -> dict[int, Counter[tuple[int, str]]]:
        users: dict[int, list[int]] = defaultdict(list)
        for index, connection in enumerate(self.connections):
            users[connection.user.id].append(index)
        expected: dict[int, Counter[tuple[int, str]]] = defaultdict(Counter)
        for key, recipient_sets in step.expected.items():
            for recipients in recipient_sets:
                for user_id in recipients:
                    for index in users.get(user_id, []):
                        expected[index][key] += 1
        return expected

    def _expectations(self, step: Step) -> list[tuple[Frames, tuple[int, str], int]]:
        """(a connection's frames, notification, how many it expects) for every expectation."""
        return [
            (self.connections[index].frames, key, n)
            for index, wanted in self._per_connection_expected(step).items()
            for key, n in wanted.items()
        ]

    def figures(self, step: Step) -> dict[str, Any]:
        expected_total = missing = duplicated = unexpected = 0
        delays: list[float] = []
        wanted_all = self._per_connection_expected(step)
        for index, connection in enumerate(self.connections):
            wanted = wanted_all.get(index, Counter())
            expected_total += sum(wanted.values())
            duplicated += sum(n - 1 for n in connection.ids.values() if n > 1)
            for key, times in connection.frames.items():
                n = wanted.get(key, 0)
                if n == 0:
                    unexpected += len(times)
                    continue
                for sent, received in zip(step.sent[key], times, strict=False):
                    delays.append(received - sent)
            for key, n in wanted.items():
                missing += max(0, n - len(connection.frames.get(key, [])))
        received = sum(sum(len(t) for t in c.frames.values()) for c in self.connections)
        http = step.http_latencies
        return {
            "rate_per_second": step.rate,
            "lifecycles_started": step.started,
            "lifecycles_completed": step.completed,
            "lifecycles_failed": step.failed,
            "errors": dict(step.errors.most_common(5)),
            "http_requests": len(http),
            "http_p50_ms": ms(percentile(http, 50)),
            "http_p99_ms": ms(percentile(http, 99)),
            "notifications_expected": expected_total,
            "notifications_received": received,
            "missing": missing,
            "duplicated": duplicated,
            "unexpected": unexpected,
            "delay_p50_ms": ms(percentile(delays, 50)),
            "delay_p95_ms": ms(percentile(delays, 95)),
            "delay_p99_ms": ms(percentile(delays, 99)),
            "delay_max_ms": ms(max(delays) if delays else None),
        }


# --- metrics and processes --------------------------------------------------------------------
async def scrape(http: aiohttp.ClientSession, target: Target) -> dict[str, dict[str, float]]:
    sources = {"tickets": [target.tickets_url], "consumer": [target.consumer_url]}
    sources["gateways"] = list(target.gateway_urls)
    scraped: dict[str, dict[str, float]] = {}
    for name, urls in sources.items():
        merged: dict[str, float] = {}
        for url in urls:
            if not url:
                continue
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with http.get(f"{url}/metrics") as response:
                    text = await response.text()
                for key, value in parse_metrics(text).items():
                    merged[key] = merged.get(key, 0.0) + value
        scraped[name] = merged
    return scraped


def stage_figures(
    before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]
) -> list[dict[str, Any]]:
    stages = []
    for metric, source, label in STAGES:
        delta = Histogram.from_samples(after.get(source, {}), metric).minus(
            Histogram.from_samples(before.get(source, {}), metric)
        )
        stages.append({"stage": label, "metric": metric, **delta.summary()})
    return stages


def process_groups(target: Target) -> dict[str, list[psutil.Process]]:
    groups: dict[str, list[psutil.Process]] = {}
    for name, pid in target.pids.items():
        groups[name] = with_children(pid)
    groups["postgresql"] = processes_named("postgres")
    groups["rabbitmq"] = processes_named("beam.smp", "epmd", "erl_child_setup")
    groups["redis"] = processes_named("redis-server")
    groups["load generator"] = [psutil.Process()]
    return groups


def cpu_ms_per_lifecycle(processes: dict[str, dict[str, float]], completed: int) -> float | None:
    """The CPU time of every process of the step (services, servers, load generator; their
    idle work during the step and its drain included) per completed lifecycle."""
    if not completed:
        return None
    return round(1000 * sum(p["cpu_seconds"] for p in processes.values()) / completed, 1)


def give_up(step: dict[str, Any]) -> bool:
    """Past saturation (a delay p99 over 10 s, or failed lifecycles) a faster step only queues."""
    p99 = step["delay_p99_ms"]
    return bool(step["lifecycles_failed"]) or (p99 is not None and p99 > 10_000)


async def run(
    target: Target,
    rates: list[float],
    seconds: float,
    drain: float,
    clients: int,
    developers: int,
    admins: int,
) -> dict[str, Any]:
    # One pooled session for the whole run (the lifecycles in flight each hold at most one
    # connection), and one for the metrics scrapes, which must not queue behind them. The API
    # sets no cookies and compresses nothing: no jar or decoder to run on every request.
    async with (
        aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=400, limit_per_host=0),
            timeout=aiohttp.ClientTimeout(total=30.0),
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            skip_auto_headers=("Accept-Encoding",),
        ) as http,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10.0)) as probe,
        # The WebSockets stay open all run: a pool of their own, unbounded, so that they never
        # take the requests' connections. The timeout bounds the handshakes only.
        aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=10.0)
        ) as sockets,
    ):
        driver = Driver(target, http)
        began = time.perf_counter()
        await driver.provision(admins, developers, clients)
        provisioned = time.perf_counter() - began
        listeners = await driver.connect_all(sockets)
        await asyncio.sleep(1.0)
        steps: list[dict[str, Any]] = []
        skipped: list[float] = []
        for rate in rates:
            if steps and give_up(steps[-1]):
                print(f"  {rate:g}/s: skipped (the previous step was far past sustainable)")
                skipped.append(rate)
                continue
            sampler = ProcessSampler(lambda: process_groups(target))
            before = await scrape(probe, target)
            load_before = load_average()
            sampler.start()
            step = await driver.run_step(rate, seconds, drain)
            processes = sampler.stop()
            after = await scrape(probe, target)
            figures = driver.figures(step)
            figures["stages"] = stage_figures(before, after)
            figures["processes"] = processes
            figures["cpu_ms_per_lifecycle"] = cpu_ms_per_lifecycle(processes, step.completed)
            figures["load_average_before"] = load_before
            figures["load_average_after"] = load_average()
            steps.append(figures)
            print(
                f"  {rate:g}/s: {figures['lifecycles_completed']}/{figures['lifecycles_started']}"
                f" lifecycles, http p50 {figures['http_p50_ms']} p99 {figures['http_p99_ms']} ms,"
                f" notifications {figures['notifications_received']}/"
                f"{figures['notifications_expected']} (missing {figures['missing']}, dup"
                f" {figures['duplicated']}), delay p50 {figures['delay_p50_ms']} p99"
                f" {figures['delay_p99_ms']} max {figures['delay_max_ms']} ms,"
                f" CPU {figures['cpu_ms_per_lifecycle']} ms per lifecycle,"
                f" load {figures['load_average_after'][0]}",
                flush=True,
            )
        for task in listeners:
            task.cancel()
        await asyncio.gather(*listeners, return_exceptions=True)
    sustainable = max(
        (
            s["rate_per_second"]
            for s in steps
            if s["missing"] == 0
            and s["duplicated"] == 0
            and s["lifecycles_failed"] == 0
            and s["delay_p99_ms"] is not None
            and s["delay_p99_ms"] < 1000
        ),
        default=None,
    )
    return {
        "users": {"admins": len(driver.admins), "developers": developers, "clients": clients},
        "connections": len(driver.connections),
        "provisioning_seconds": round(provisioned, 1),
        "step_seconds": seconds,
        "steps": steps,
        "skipped_rates": skipped,
        "sustainable_rate_per_second": sustainable,
    }

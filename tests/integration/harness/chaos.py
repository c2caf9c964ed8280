"""The chaos run: the distributed stack under load while faults are injected, then an audit.

``ChaosStack`` starts the processes of `make stack` exactly as scripts/stack.py does (its
``service_processes`` and nginx plan, each process a ``stack_processes.Managed``), in a
namespace and databases of its own, with a private redis-server (``PrivateRedis``) so the
machine's shared Redis is never touched; unlike scripts/stack.py it does not stop everything
when one process exits, so single processes can be killed and started again.

``run_chaos`` connects every user over WebSocket (some on two devices, through nginx),
behaves like incident_notify's client (reconnect with backoff, resume with ``since`` = the
highest seq seen), drives ticket lifecycles through the API continuously, and injects the
faults of ``schedule`` in turn. Then it waits for delivery to settle and audits:

- expected: the notifications API.md's rules give for every accepted action;
- stored: the notifier's records (per user, seq must be 1..n without gaps or repeats);
- delivered / missing / duplicated / out of order: per device, from the frames received;
- worst delay: from the action's accepted response to the first device's receipt, by the
  fault window the action fell in.

Every server a fault stops is started again in a ``finally``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from harness.gateway import PrivateRedis
from harness.infra import Infra, free_port, wait_for_port
from harness.processes import ARTIFACTS

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "scripts"))

from stack import Ports, StackConfig, service_processes  # noqa: E402
from stack_nginx import find_nginx, prepare_nginx  # noqa: E402
from stack_processes import Log, Managed, wait_healthy  # noqa: E402

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "chaos-admin-password"
PASSWORD = "chaos password 1"
STOP_TIMEOUT = 25.0


# --- the stack --------------------------------------------------------------------------
class ChaosStack:
    """tickets, notifier api + consumer, two ws-gateways and nginx; each restartable."""

    def __init__(self, infra: Infra, redis: PrivateRedis, namespace: str, log: TextIO) -> None:
        self.infra = infra
        self.redis = redis
        self.namespace = namespace
        self.log = Log(log)
        self.state = Path(ARTIFACTS.parent / f"chaos-{namespace}")
        self.state.mkdir(parents=True, exist_ok=True)
        self.tickets_db = infra.create_database("chaos_tickets")
        self.notifier_db = infra.create_database("chaos_notifier")
        self.ports = Ports(
            free_port(), free_port(), free_port(), free_port(), (free_port(), free_port())
        )
        env = {
            **os.environ,
            "AMQP_URL": infra.amqp_url,
            "REDIS_URL": redis.url,
            "BOOTSTRAP_ADMIN_USERNAME": ADMIN_USERNAME,
            "BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "TICKETS_ARGON2_TIME_COST": "1",
            "TICKETS_ARGON2_MEMORY_COST_KIB": "64",
            "TICKETS_ARGON2_PARALLELISM": "1",
            "TICKETS_RELAY_BACKOFF_MAX": "1.0",
            "PYTHONUNBUFFERED": "1",
        }
        config = StackConfig(
            ports=self.ports,
            namespace=namespace,
            state=self.state,
            env=env,
            tickets_db=self.tickets_db,
            notifier_db=self.notifier_db,
            admin_username=ADMIN_USERNAME,
            admin_password=ADMIN_PASSWORD,
        )
        self.services = {service.name: service for service in service_processes(config)}
        self.nginx_home: Path | None = None
        self.base_url = ""
        self._stop = threading.Event()

    def start(self) -> None:
        order = ["tickets", "notifier", "notifier-consumer", "ws-gateway-1", "ws-gateway-2"]
        for name in order:
            self.services[name].start(self.log)
            wait_healthy(self.services[name], self._stop)
        nginx = find_nginx()
        if nginx is None:
            raise RuntimeError("the chaos run needs nginx in front of the two gateways")
        plan = prepare_nginx(
            nginx,
            self.ports.gateway,
            [f"127.0.0.1:{self.ports.tickets}"],
            [f"127.0.0.1:{self.ports.notifier}"],
            [f"127.0.0.1:{port}" for port in self.ports.ws_gateways],
        )
        self.nginx_home = plan.home
        proxy = Managed("nginx", plan.argv, dict(os.environ), plan.health_url)
        self.services["nginx"] = proxy
        proxy.start(self.log)
        wait_healthy(proxy, self._stop)
        self.base_url = f"http://127.0.0.1:{self.ports.gateway}"

    def kill(self, name: str) -> None:
        process = self.services[name].process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(10)

    def terminate(self, name: str) -> int | None:
        service = self.services[name]
        service.stop()
        return service.wait_stopped(time.monotonic() + STOP_TIMEOUT)

    def ensure_running(self, name: str) -> None:
        service = self.services[name]
        if service.exited() is None and service.process is not None:
            return
        _release(service)
        service.start(self.log)
        wait_healthy(service, self._stop)

    def stop(self) -> None:
        for service in reversed(list(self.services.values())):
            if service.exited() is None:
                service.stop()
                service.wait_stopped(time.monotonic() + STOP_TIMEOUT)
            _release(service)
        if self.nginx_home is not None:
            shutil.rmtree(self.nginx_home, ignore_errors=True)


def _release(service: Managed) -> None:
    """Close what an exited process leaves open (its output pipe), before a new start."""
    if service.reader is not None:
        service.reader.join(timeout=5)
    process = service.process
    if process is not None and process.poll() is not None and process.stdout is not None:
        process.stdout.close()


@contextlib.contextmanager
def chaos_stack(infra: Infra, namespace: str) -> Iterator[ChaosStack]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with (
        (ARTIFACTS / f"chaos-{namespace}.log").open("w") as log,
        PrivateRedis().running() as redis,
    ):
        stack = ChaosStack(infra, redis, namespace, log)
        try:
            stack.start()
            yield stack
        finally:
            stack.stop()


# --- faults -----------------------------------------------------------------------------
@dataclass
class Fault:
    name: str
    run: Callable[[ChaosStack], Awaitable[None]]


async def _in_thread(function: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.to_thread(function, *args)


def _rabbitmqctl(*args: str) -> None:
    binary = shutil.which("rabbitmqctl")
    if binary is None:
        raise RuntimeError("rabbitmqctl is not on PATH; the chaos run restarts the broker")
    subprocess.run([binary, *args], check=True, capture_output=True, timeout=120)


async def rabbitmq_restart(stack: ChaosStack, hold: float = 3.0) -> None:
    await _in_thread(_rabbitmqctl, "stop_app")
    try:
        await asyncio.sleep(hold)
    finally:
        await _in_thread(_rabbitmqctl, "start_app")
        await _in_thread(_rabbitmqctl, "await_startup")
        parts = urlsplit(stack.infra.amqp_url)
        await _in_thread(wait_for_port, parts.hostname or "127.0.0.1", parts.port or 5672)


async def redis_restart(stack: ChaosStack, hold: float = 2.0) -> None:
    await _in_thread(stack.redis.stop)
    try:
        await asyncio.sleep(hold)
    finally:
        await _in_thread(stack.redis.start)


async def _kill_then_start(stack: ChaosStack, name: str, hold: float) -> None:
    try:
        await _in_thread(stack.kill, name)
        await asyncio.sleep(hold)
    finally:
        await _in_thread(stack.ensure_running, name)


async def notifier_kill(stack: ChaosStack, hold: float = 2.0) -> None:
    await _kill_then_start(stack, "notifier-consumer", hold)


async def gateway_kill(stack: ChaosStack, hold: float = 5.0) -> None:
    await _kill_then_start(stack, "ws-gateway-1", hold)


async def gateway_term(stack: ChaosStack, hold: float = 3.0) -> None:
    try:
        code = await _in_thread(stack.terminate, "ws-gateway-2")
        stack.log("chaos", f"ws-gateway-2 drained and exited with {code}")
        await asyncio.sleep(hold)
    finally:
        await _in_thread(stack.ensure_running, "ws-gateway-2")


async def tickets_restart(stack: ChaosStack, hold: float = 1.0) -> None:
    try:
        await _in_thread(stack.terminate, "tickets")
        await asyncio.sleep(hold)
    finally:
        await _in_thread(stack.ensure_running, "tickets")


FAULTS: dict[str, Callable[[ChaosStack], Awaitable[None]]] = {
    "rabbitmq restart": rabbitmq_restart,
    "redis restart": redis_restart,
    "notifier SIGKILL": notifier_kill,
    "gateway SIGKILL": gateway_kill,
    "gateway SIGTERM": gateway_term,
    "tickets restart": tickets_restart,
}


# --- the users and their devices ----------------------------------------------------------
@dataclass
class User:
    id: int
    username: str
    role: str
    access: str


@dataclass
class Received:
    seq: int
    id: str
    kind: str
    ticket: int
    at: float


@dataclass
class Device:
    user: User
    name: str
    last_seq: int = 0
    frames: list[Received] = field(default_factory=list)
    connects: int = 0
    refused: int = 0
    closes: Counter[int | None] = field(default_factory=Counter)

    async def listen(self, base_url: str, stop: asyncio.Event) -> None:
        """Like incident_notify's stream: reconnect with backoff, resume from the last seq."""
        ws_base = base_url.replace("http://", "ws://", 1) + "/ws/notifications/"
        delay = 0.2
        while not stop.is_set():
            url = f"{ws_base}?token={self.user.access}&since={self.last_seq}"
            try:
                async with connect(url, open_timeout=10, ping_interval=5, ping_timeout=10) as ws:
                    self.connects += 1
                    delay = 0.2
                    stopping = asyncio.ensure_future(stop.wait())
                    try:
                        while True:
                            receiving = asyncio.ensure_future(ws.recv())
                            done, _ = await asyncio.wait(
                                {receiving, stopping}, return_when=asyncio.FIRST_COMPLETED
                            )
                            if receiving not in done:
                                receiving.cancel()
                                return
                            self._take(receiving.result())
                    finally:
                        stopping.cancel()
            except InvalidStatus:
                self.refused += 1
            except (OSError, TimeoutError) as error:
                self.closes[getattr(error, "code", None)] += 1
            except Exception as error:  # a close: websockets' ConnectionClosed and kin
                rcvd = getattr(error, "rcvd", None)
                self.closes[getattr(rcvd, "code", None)] += 1
            if stop.is_set():
                return
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 2.0)

    def _take(self, text: str | bytes) -> None:
        frame = json.loads(text)
        if not isinstance(frame, dict) or "seq" not in frame:
            return
        seq = int(frame["seq"])
        self.frames.append(
            Received(
                seq, str(frame["id"]), frame["notification_type"], int(frame["ticket"]["id"]), 0.0
            )
        )
        self.frames[-1].at = time.monotonic()
        self.last_seq = max(self.last_seq, seq)


# --- the API driver ------------------------------------------------------------------------
class Retry(Exception):
    pass


@dataclass
class Action:
    name: str
    ticket: int
    actor: int
    recipients: list[int]
    kind: str
    at: float
    phase: str


class Driver:
    """Ticket lifecycles through the public API; an action counts once it is known committed
    (its response, or, after a lost response, the ticket's state shows it)."""

    def __init__(self, base_url: str, users: list[User], rng: random.Random) -> None:
        self.base_url = base_url
        self.admins = [u for u in users if u.role == "ADMIN"]
        self.developers = [u for u in users if u.role == "DEVELOPER"]
        self.clients = [u for u in users if u.role == "CLIENT"]
        self.rng = rng
        self.actions: list[Action] = []
        self.phase = "warm-up"
        self.retries = 0
        self.http = httpx.AsyncClient(base_url=base_url, timeout=10.0)
        self._titles = 0

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _call(self, user: User, method: str, path: str, body: Any = None) -> Any:
        response = await self.http.request(
            method, path, json=body, headers={"Authorization": f"Bearer {user.access}"}
        )
        if response.status_code >= 500 or response.status_code == 429:
            raise Retry(f"{method} {path}: {response.status_code}")
        payload = response.json() if response.content else None
        return response.status_code, payload

    async def _persist(self, attempt: Callable[[], Awaitable[Any]], deadline: float) -> Any:
        while True:
            try:
                return await attempt()
            except (httpx.HTTPError, Retry, ValueError):
                self.retries += 1
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.3)

    def _record(self, name: str, ticket: int, actor: User, kind: str, to: Sequence[int]) -> None:
        recipients = sorted({r for r in to if r != actor.id})
        self.actions.append(
            Action(name, ticket, actor.id, recipients, kind, time.monotonic(), self.phase)
        )

    async def create(self, client: User, project: int) -> int:
        self._titles += 1
        title = f"chaos {client.id}-{self._titles}-{self.rng.randrange(10**6)}"
        body = {
            "title": title,
            "description": "driven by the chaos run",
            "priority": self.rng.choice(["LOW", "MEDIUM", "HIGH", "CRITICAL"]),
            "category": "INCIDENT",
            "project_id": project,
        }
        ambiguous = False

        async def attempt() -> int:
            nonlocal ambiguous
            if ambiguous:  # an earlier attempt may have committed: look before creating again
                status, listed = await self._call(client, "GET", "/api/tickets/?limit=20")
                if status == 200:
                    for ticket in listed:
                        if ticket["title"] == title:
                            return int(ticket["id"])
            ambiguous = True
            status, created = await self._call(client, "POST", "/api/tickets/", body)
            if status != 201:
                raise AssertionError(f"create: {status} {created}")
            return int(created["id"])

        ticket = int(await self._persist(attempt, time.monotonic() + 90))
        self._record("create", ticket, client, "ticket_created", [a.id for a in self.admins])
        return ticket

    async def transition(
        self,
        actor: User,
        ticket: int,
        action: str,
        target: str | None,
        body: Any = None,
    ) -> None:
        tried = False

        async def attempt() -> None:
            nonlocal tried
            first, tried = not tried, True
            status, answer = await self._call(
                actor, "POST", f"/api/tickets/{ticket}/{action}/", body
            )
            if status == 200:
                return
            if status == 409 and not first and target is not None:
                status, current = await self._call(actor, "GET", f"/api/tickets/{ticket}/")
                if status == 200 and current["status"] == target:
                    return  # the lost attempt had committed
            raise AssertionError(f"{action} {ticket}: {status} {answer}")

        await self._persist(attempt, time.monotonic() + 90)

    async def lifecycle(self, project: int) -> None:
        rng = self.rng
        client = rng.choice(self.clients)
        admin = rng.choice(self.admins)
        team = rng.sample(self.developers, 2 if rng.random() < 0.2 else 1)
        everyone_admin = [a.id for a in self.admins]
        ticket = await self.create(client, project)
        await self.transition(admin, ticket, "open", "OPENED")
        self._record("open", ticket, admin, "ticket_opened", [client.id])
        await self.transition(
            admin, ticket, "assign", None, {"developer_ids": [d.id for d in team]}
        )
        self._record("assign", ticket, admin, "ticket_assigned", [d.id for d in team])
        worker = team[0]
        await self.transition(worker, ticket, "start", "IN_PROGRESS")
        self._record("start", ticket, worker, "work_started", [client.id])
        await self.transition(worker, ticket, "finish", "RESOLVED")
        self._record("finish", ticket, worker, "work_finished", [client.id])
        closing = everyone_admin + [d.id for d in team]
        if rng.random() < 0.3:
            await self.transition(client, ticket, "reject", "IN_PROGRESS", {"comment": "again"})
            self._record("reject", ticket, client, "ticket_rejected", closing)
            await self.transition(worker, ticket, "finish", "RESOLVED")
            self._record("finish", ticket, worker, "work_finished", [client.id])
        await self.transition(client, ticket, "approve", "CLOSED")
        self._record("approve", ticket, client, "ticket_approved", closing)


# --- setup ---------------------------------------------------------------------------------
async def _make_users(
    base_url: str, count: int, admins: int, developers: int
) -> tuple[list[User], int]:
    """The bootstrap admin and ``count - 1`` new users, logged in, and a project's id."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0) as http:
        login = await http.post(
            "/api/auth/login/", json={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD}
        )
        login.raise_for_status()
        root = login.json()
        headers = {"Authorization": f"Bearer {root['access']}"}
        users = [User(int(root["user"]["id"]), ADMIN_USERNAME, "ADMIN", root["access"])]
        roles = ["ADMIN"] * (admins - 1) + ["DEVELOPER"] * developers
        roles += ["CLIENT"] * (count - len(roles) - 1)
        semaphore = asyncio.Semaphore(8)

        async def one(index: int, role: str) -> User:
            async with semaphore:
                name = f"chaos-{role.lower()}-{index}"
                made = await http.post(
                    "/api/users/",
                    json={
                        "username": name,
                        "password": PASSWORD,
                        "full_name": f"Chaos {role.title()} {index}",
                        "role": role,
                    },
                    headers=headers,
                )
                made.raise_for_status()
                tokens = await http.post(
                    "/api/auth/login/", json={"username": name, "password": PASSWORD}
                )
                tokens.raise_for_status()
                return User(int(made.json()["id"]), name, role, tokens.json()["access"])

        users += await asyncio.gather(*(one(i, role) for i, role in enumerate(roles)))
        project = await http.post("/api/projects/", json={"name": "Chaos"}, headers=headers)
        project.raise_for_status()
        return users, int(project.json()["id"])


# --- the audit -----------------------------------------------------------------------------
@dataclass
class Report:
    actions: int
    expected: int
    stored: int
    delivered: int
    missing: int
    duplicated: int
    out_of_order: int
    stored_missing: int
    stored_extra: int
    seq_faults: int
    worst_delay: dict[str, float]
    devices: int
    retries: int
    details: list[str]
    failed_lifecycles: int = 0

    @property
    def ok(self) -> bool:
        return not (
            self.failed_lifecycles
            or self.missing
            or self.duplicated
            or self.out_of_order
            or self.stored_missing
            or self.stored_extra
            or self.seq_faults
        )

    def table(self) -> str:
        rows = [
            ("actions accepted", self.actions),
            ("notifications expected (API.md rules)", self.expected),
            ("records stored (notifier)", self.stored),
            ("  expected but not stored", self.stored_missing),
            ("  stored but not expected", self.stored_extra),
            ("  per-user seq gaps or repeats", self.seq_faults),
            (f"delivered (to {self.devices} devices)", self.delivered),
            ("missing", self.missing),
            ("duplicated", self.duplicated),
            ("out of order", self.out_of_order),
            ("API retries (5xx, 429, transport)", self.retries),
            ("lifecycles that failed", self.failed_lifecycles),
        ]
        width = max(len(label) for label, _ in rows) + 2
        lines = [f"{label:<{width}}{value:>8}" for label, value in rows]
        lines.append("worst delivery delay (action accepted -> first device), by fault window:")
        for phase, delay in self.worst_delay.items():
            lines.append(f"  {phase:<{width - 2}}{delay:>8.2f} s")
        return "\n".join(lines)


async def _stored(database_url: str) -> list[asyncpg.Record]:
    parts = urlsplit(database_url)
    connection = await asyncpg.connect(urlunsplit(parts._replace(scheme="postgresql")))
    try:
        rows: list[asyncpg.Record] = await connection.fetch(
            "SELECT user_id, seq, id, event_id, notification_type, (ticket->>'id')::bigint AS t"
            " FROM notifications ORDER BY user_id, seq"
        )
        return rows
    finally:
        await connection.close()


def _expected(actions: list[Action]) -> Counter[tuple[int, str, int]]:
    expected: Counter[tuple[int, str, int]] = Counter()
    for action in actions:
        for user in action.recipients:
            expected[(user, action.kind, action.ticket)] += 1
    return expected


def _delivered_all(devices: list[Device], expected: Counter[tuple[int, str, int]]) -> bool:
    wanted: dict[int, Counter[tuple[str, int]]] = defaultdict(Counter)
    for (user, kind, ticket), count in expected.items():
        wanted[user][(kind, ticket)] += count
    for device in devices:
        got = Counter((f.kind, f.ticket) for f in {f.id: f for f in device.frames}.values())
        if wanted[device.user.id] - got:
            return False
    return True


def audit(actions: list[Action], devices: list[Device], stored: list[Any], retries: int) -> Report:
    expected = _expected(actions)
    details: list[str] = []
    stored_keys: Counter[tuple[int, str, int]] = Counter(
        (int(r["user_id"]), r["notification_type"], int(r["t"])) for r in stored
    )
    stored_missing = sum((expected - stored_keys).values())
    stored_extra = sum((stored_keys - expected).values())
    if stored_missing or stored_extra:
        details.append(f"stored vs expected: missing {dict(expected - stored_keys)}")
        details.append(f"stored vs expected: extra {dict(stored_keys - expected)}")
    seq_faults = 0
    by_user: dict[int, list[int]] = defaultdict(list)
    for row in stored:
        by_user[int(row["user_id"])].append(int(row["seq"]))
    for user, seqs in by_user.items():
        if seqs != list(range(1, len(seqs) + 1)):
            seq_faults += 1
            details.append(f"user {user}: stored seqs {seqs[:20]}...")
    missing = duplicated = out_of_order = delivered = 0
    wanted: dict[int, Counter[tuple[str, int]]] = defaultdict(Counter)
    for (user, kind, ticket), count in expected.items():
        wanted[user][(kind, ticket)] += count
    summaries: list[str] = []
    began = min((a.at for a in actions), default=0.0)
    first_receipt: dict[tuple[int, str, int], list[float]] = defaultdict(list)
    for device in devices:
        seen: set[str] = set()
        last = 0
        got: Counter[tuple[str, int]] = Counter()
        for frame in device.frames:
            if frame.id in seen:
                duplicated += 1
                details.append(f"{device.name}: seq {frame.seq} received again")
                continue
            seen.add(frame.id)
            if frame.seq != last + 1:
                out_of_order += 1
                details.append(f"{device.name}: seq {frame.seq} after {last}")
            last = max(last, frame.seq)
            delivered += 1
            got[(frame.kind, frame.ticket)] += 1
            first_receipt[(device.user.id, frame.kind, frame.ticket)].append(frame.at)
        lacking = wanted[device.user.id] - got
        if lacking:
            missing += sum(lacking.values())
            first = sorted(lacking.items(), key=lambda item: item[0][1])[:3]
            summaries.append(
                f"{device.name}: {sum(lacking.values())} not received (e.g. {first}); "
                f"{device.connects} connections, {device.refused} refused, closes "
                f"{dict(device.closes)}, last seq {device.last_seq} of "
                f"{len(by_user[device.user.id])}"
                f", last frame {device.frames[-1].at - began if device.frames else -1:.1f} s"
            )
    worst: dict[str, float] = {}
    for action in actions:
        worst.setdefault(action.phase, 0.0)
        for user in action.recipients:
            times = sorted(first_receipt.get((user, action.kind, action.ticket), []))
            later = [t for t in times if t >= action.at - 5.0]
            if later:
                worst[action.phase] = max(worst[action.phase], later[0] - action.at)
    return Report(
        actions=len(actions),
        expected=sum(expected.values()),
        stored=len(stored),
        delivered=delivered,
        missing=missing,
        duplicated=duplicated,
        out_of_order=out_of_order,
        stored_missing=stored_missing,
        stored_extra=stored_extra,
        seq_faults=seq_faults,
        worst_delay=worst,
        devices=len(devices),
        retries=retries,
        details=(summaries + details)[:60],
    )


# --- the run -------------------------------------------------------------------------------
@dataclass
class Plan:
    users: int = 200
    admins: int = 0
    """ADMINs, the bootstrap admin among them (0: a 40th of the users, at least 2)."""
    developers: int = 0
    """DEVELOPERs (0: 15% of the users, at least 3); the rest are CLIENTs."""
    two_devices: float = 0.1
    workers: int = 4
    warm_up: float = 10.0
    between: float = 15.0
    settle: float = 90.0
    schedule: Sequence[str] = tuple(FAULTS)
    seed: int = 7


@contextlib.asynccontextmanager
async def _listening(base_url: str, devices: list[Device]) -> AsyncIterator[asyncio.Event]:
    stop = asyncio.Event()
    tasks = [asyncio.ensure_future(d.listen(base_url, stop)) for d in devices]
    try:
        yield stop
    finally:
        stop.set()
        await asyncio.wait(tasks, timeout=15)
        for task in tasks:
            task.cancel()


async def run_chaos(stack: ChaosStack, plan: Plan, say: Callable[[str], None]) -> Report:
    rng = random.Random(plan.seed)
    admins = plan.admins or max(2, plan.users // 40)
    developers = plan.developers or max(3, plan.users * 15 // 100)
    users, project = await _make_users(stack.base_url, plan.users, admins, developers)
    devices = [Device(u, f"{u.role.lower()}-{u.id}/a") for u in users]
    devices += [
        Device(u, f"{u.role.lower()}-{u.id}/b")
        for u in rng.sample(users, round(len(users) * plan.two_devices))
    ]
    say(f"{len(users)} users, {len(devices)} devices; faults: {', '.join(plan.schedule)}")
    driver = Driver(stack.base_url, users, rng)
    failures: list[BaseException] = []
    try:
        async with _listening(stack.base_url, devices):
            await _until(lambda: all(d.connects for d in devices), 60)
            running = asyncio.Event()
            running.set()

            async def work() -> None:
                while running.is_set():
                    try:
                        await driver.lifecycle(project)
                    except Exception as error:  # recorded; the run then fails
                        failures.append(error)
                        say(f"lifecycle failed: {error!r}")
                        await asyncio.sleep(1)

            workers = [asyncio.ensure_future(work()) for _ in range(plan.workers)]
            try:
                await asyncio.sleep(plan.warm_up)
                for name in plan.schedule:
                    driver.phase = name
                    stack.log("chaos", f"fault: {name}")
                    started = time.monotonic()
                    await FAULTS[name](stack)
                    say(f"{name}: injected and recovered in {time.monotonic() - started:.1f} s")
                    await asyncio.sleep(plan.between)
            finally:
                running.clear()
                await asyncio.gather(*workers, return_exceptions=True)
            expected = _expected(driver.actions)
            say(f"{len(driver.actions)} actions accepted; waiting for delivery to settle")
            await _until(lambda: _delivered_all(devices, expected), plan.settle)
            await asyncio.sleep(2.0)  # anything late or repeated shows up now
        stored = await _stored(stack.notifier_db)
    finally:
        await driver.aclose()
    report = audit(driver.actions, devices, stored, driver.retries)
    report.failed_lifecycles = len(failures)
    if failures:
        report.details.insert(0, f"{len(failures)} lifecycles failed: {failures[:3]!r}")
    return report


async def _until(condition: Callable[[], bool], within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.5)
    return condition()

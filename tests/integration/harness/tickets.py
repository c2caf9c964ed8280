"""Start the tickets service as a real process for a test run (``start_tickets``).

Each call gets a fresh PostgreSQL database unless ``database_url`` is given (a replica of
another instance: pass its ``database_url`` and ``private_key_pem``), the run's namespace,
the run's broker, cheap Argon2 parameters, and a bootstrap admin.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import secrets
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import httpx
from aio_pika.abc import AbstractConnection, AbstractQueue
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness.infra import Infra, free_port
from harness.processes import ServiceProcess
from incident_contracts.names import Names

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "admin-password"
_instances = itertools.count(1)


def new_private_key_pem() -> str:
    return (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


@dataclass
class RunningTickets:
    url: str
    process: ServiceProcess
    database_url: str
    private_key_pem: str
    env: dict[str, str]
    admin_username: str = ADMIN_USERNAME
    admin_password: str = ADMIN_PASSWORD
    replicas: list[RunningTickets] = field(default_factory=list)
    relays: list[ServiceProcess] = field(default_factory=list)

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/.well-known/jwks.json"

    def stop(self) -> None:
        for replica in self.replicas:
            replica.stop()
        for relay in self.relays:
            relay.terminate()
        self.process.terminate()


def published_total(url: str) -> int:
    """Events the tickets process at ``url`` has published (``/metrics``, all event types)."""
    text = httpx.get(f"{url}/metrics", timeout=5).text
    pattern = r"^tickets_outbox_published_total\{[^}]*\} (\S+)$"
    return int(sum(float(value) for value in re.findall(pattern, text, re.M)))


def start_tickets(
    infra: Infra,
    *,
    database_url: str | None = None,
    private_key_pem: str | None = None,
    name: str | None = None,
    **extra_env: str,
) -> RunningTickets:
    """Start ``python -m incident_tickets api`` (relay embedded) and wait until /healthz answers.

    ``extra_env`` overrides any variable, e.g. ``TICKETS_RELAY_SWEEP_INTERVAL="0.05"``.
    """
    port = free_port()
    database_url = database_url or _create_database(infra)
    private_key_pem = private_key_pem or new_private_key_pem()
    env = {
        "DATABASE_URL": database_url,
        "AMQP_URL": infra.amqp_url,
        "REDIS_URL": infra.redis_url,
        "INCIDENT_NAMESPACE": infra.namespace,
        "TICKETS_HOST": "127.0.0.1",
        "TICKETS_PORT": str(port),
        "TICKETS_DATA_DIR": tempfile.mkdtemp(prefix="tickets-data-"),
        "TICKETS_JWT_PRIVATE_KEY": private_key_pem,
        "TICKETS_ARGON2_TIME_COST": "1",
        "TICKETS_ARGON2_MEMORY_COST_KIB": "64",
        "TICKETS_ARGON2_PARALLELISM": "1",
        "TICKETS_RELAY_BACKOFF_MAX": "1.0",
        "BOOTSTRAP_ADMIN_USERNAME": ADMIN_USERNAME,
        "BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
        **extra_env,
    }
    url = f"http://127.0.0.1:{port}"
    process = ServiceProcess(
        name or f"tickets-{infra.run_id}-{next(_instances)}",
        ["-m", "incident_tickets", "api"],
        env=env,
        health_url=f"{url}/healthz",
    ).start()
    return RunningTickets(url, process, database_url, private_key_pem, env)


def _create_database(infra: Infra) -> str:
    # Infra.create_database runs its own event loop; from an async test, use another thread.
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return infra.create_database("tickets")
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(infra.create_database, "tickets").result()


def start_replica(primary: RunningTickets, infra: Infra, **extra_env: str) -> RunningTickets:
    """A second process on the same database with the same signing key."""
    replica = start_tickets(
        infra,
        database_url=primary.database_url,
        private_key_pem=primary.private_key_pem,
        **extra_env,
    )
    primary.replicas.append(replica)
    return replica


def start_relay(primary: RunningTickets, **extra_env: str) -> ServiceProcess:
    """``python -m incident_tickets relay`` on ``primary``'s database and broker, stopped
    with ``primary`` (its probes answer on their own port)."""
    port = free_port()
    env = {**primary.env, "TICKETS_RELAY_PORT": str(port), **extra_env}
    process = ServiceProcess(
        f"{primary.process.name}-relay-{next(_instances)}",
        ["-m", "incident_tickets", "relay"],
        env=env,
        health_url=f"http://127.0.0.1:{port}/healthz",
    ).start()
    primary.relays.append(process)
    return process


@dataclass(frozen=True)
class TappedEvent:
    routing_key: str
    message_id: str | None
    content_type: str | None
    persistent: bool
    body: dict[str, Any]


class EventTap:
    """A durable queue bound to a namespace's events exchange, to read what was published.

    Durable, so it survives ``rabbitmqctl stop_app``/``start_app``; deleted by ``close``.
    Bind it BEFORE starting the service to see the bootstrap admin's ``user.created``.
    """

    def __init__(self, amqp_url: str, namespace: str, binding: str = "#") -> None:
        self._url = amqp_url
        self._exchange = Names(namespace).events_exchange
        self._queue_name = f"{namespace}.test-tap.{secrets.token_hex(4)}"
        self._binding = binding
        self._connection: AbstractConnection | None = None
        self._queue: AbstractQueue | None = None

    async def __aenter__(self) -> EventTap:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """(Re)connect; the queue and its binding are declared idempotently."""
        await self.disconnect()
        self._connection = await aio_pika.connect(self._url, timeout=30)
        channel = await self._connection.channel()
        exchange = await channel.declare_exchange(
            self._exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        self._queue = await channel.declare_queue(self._queue_name, durable=True)
        await self._queue.bind(exchange, self._binding)

    async def take(self, count: int, *, within: float = 30.0) -> list[TappedEvent]:
        """The next ``count`` messages, in arrival order; fails when fewer come ``within``."""
        assert self._queue is not None, "connect first"
        events: list[TappedEvent] = []
        deadline = asyncio.get_running_loop().time() + within
        while len(events) < count:
            message = await self._queue.get(no_ack=True, fail=False)
            if message is None:
                if asyncio.get_running_loop().time() > deadline:
                    raise AssertionError(
                        f"expected {count} events, got {len(events)}: "
                        f"{[e.routing_key for e in events]}"
                    )
                await asyncio.sleep(0.02)
                continue
            events.append(
                TappedEvent(
                    routing_key=message.routing_key or "",
                    message_id=message.message_id,
                    content_type=message.content_type,
                    persistent=message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT,
                    body=json.loads(message.body),
                )
            )
        return events

    async def disconnect(self) -> None:
        """Close the connection, keeping the queue (call it before stopping the broker)."""
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed:
            with contextlib.suppress(Exception):
                await connection.close()

    async def close(self) -> None:
        if self._connection is None:
            return
        if not self._connection.is_closed:
            channel = await self._connection.channel()
            await channel.queue_delete(self._queue_name)
            await self._connection.close()
        self._connection = None

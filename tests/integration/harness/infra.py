"""The real PostgreSQL, Redis and RabbitMQ servers a test run uses, and its isolation.

The servers come from ``DATABASE_URL``, ``REDIS_URL`` and ``AMQP_URL`` (this is how CI runs:
they already run on the machine), else from testcontainers when a Docker engine answers.
Each run gets its own namespace (exchange, queue and Redis key prefix) and its own
databases, so runs never see each other's data.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import asyncpg

MISSING_SERVERS = (
    "Integration tests need PostgreSQL, Redis and RabbitMQ. Set DATABASE_URL "
    "(postgresql://user@host:5432/db), REDIS_URL (redis://host:6379/0) and AMQP_URL "
    "(amqp://guest:guest@host:5672/), or make a Docker engine reachable for testcontainers."
)


@dataclass
class Infra:
    database_url: str
    redis_url: str
    amqp_url: str
    run_id: str = field(default_factory=lambda: secrets.token_hex(4))
    _databases: list[str] = field(default_factory=list)

    @property
    def namespace(self) -> str:
        return f"it{self.run_id}"

    def create_database(self, purpose: str) -> str:
        """A new empty database on the server of DATABASE_URL; returns its URL."""
        name = f"it_{self.run_id}_{purpose}_{len(self._databases)}"
        asyncio.run(_admin(self.database_url, f'CREATE DATABASE "{name}"'))
        self._databases.append(name)
        parts = urlsplit(self.database_url)
        return urlunsplit(parts._replace(path=f"/{name}"))

    def drop_databases(self) -> None:
        for name in self._databases:
            asyncio.run(_admin(self.database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self._databases.clear()


async def _admin(url: str, statement: str) -> None:
    parts = urlsplit(url)
    dsn = urlunsplit(parts._replace(scheme="postgresql"))
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextmanager
def provide_infra() -> Iterator[Infra]:
    urls = [os.environ.get(name) for name in ("DATABASE_URL", "REDIS_URL", "AMQP_URL")]
    if all(urls):
        infra = Infra(*urls)  # type: ignore[arg-type]
        try:
            yield infra
        finally:
            infra.drop_databases()
        return
    with ExitStack() as stack:
        infra = _from_testcontainers(stack)
        try:
            yield infra
        finally:
            infra.drop_databases()


def _from_testcontainers(stack: ExitStack) -> Infra:
    try:
        import docker

        docker.from_env().ping()
    except Exception as error:  # no engine: say what to set instead
        raise RuntimeError(MISSING_SERVERS) from error
    from testcontainers.postgres import PostgresContainer
    from testcontainers.rabbitmq import RabbitMqContainer
    from testcontainers.redis import RedisContainer

    postgres = stack.enter_context(PostgresContainer("postgres:16-alpine"))
    redis = stack.enter_context(RedisContainer("redis:7-alpine"))
    rabbit = stack.enter_context(RabbitMqContainer("rabbitmq:3.13-alpine"))
    pg_url = postgres.get_connection_url().replace("+psycopg2", "")
    redis_url = f"redis://{redis.get_container_host_ip()}:{redis.get_exposed_port(6379)}/0"
    amqp_url = (
        f"amqp://guest:guest@{rabbit.get_container_host_ip()}:{rabbit.get_exposed_port(5672)}/"
    )
    return Infra(pg_url, redis_url, amqp_url)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(host: str, port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"nothing answers on {host}:{port} after {timeout:.0f} s")


@contextmanager
def rabbitmq_stopped(amqp_url: str) -> Iterator[None]:
    """Stop the RabbitMQ application for the block; it is started again whatever happens."""
    rabbitmqctl = shutil.which("rabbitmqctl")
    if rabbitmqctl is None:
        raise RuntimeError("rabbitmqctl is not on PATH; this test stops and starts the broker")
    subprocess.run([rabbitmqctl, "stop_app"], check=True, capture_output=True, timeout=120)
    try:
        yield
    finally:
        subprocess.run([rabbitmqctl, "start_app"], check=True, capture_output=True, timeout=120)
        subprocess.run(
            [rabbitmqctl, "await_startup"], check=False, capture_output=True, timeout=120
        )
        parts = urlsplit(amqp_url)
        wait_for_port(parts.hostname or "127.0.0.1", parts.port or 5672)

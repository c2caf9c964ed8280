"""The only place that wires the three services together in one process.

Each service keeps its production code and its own ``Settings`` (read from the same
environment variables as in production). What differs is only what stands between them:

- broker: ``InProcessEventPublisher`` (the outbox relay hands events to the notifier's
  consumer logic), or RabbitMQ when ``AMQP_URL`` is set (the real publisher and consumer);
- presence and routing: ``InProcessRouting``, or Redis when ``REDIS_URL`` is set;
- databases: SQLite files under the data folder, or the servers of ``DATABASE_URL`` /
  ``TICKETS_DATABASE_URL`` / ``NOTIFIER_DATABASE_URL``;
- JWKS, replay and the users export: in-process calls instead of HTTP between services.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from incident_auth import StaticKeySource, TokenVerifier
from incident_contracts.events import UsersPage
from incident_devmode.app import ConsoleHooks, DevApp, Probe, console_app
from incident_devmode.asgi_websocket import NotificationsEndpoint
from incident_devmode.config import Settings
from incident_devmode.demo import DEMO_USERS, ensure_demo_data
from incident_devmode.inprocess_broker import InProcessEventPublisher
from incident_devmode.inprocess_routing import InProcessRouting
from incident_gateway.adapters.http_replay import HttpReplaySource
from incident_gateway.adapters.jwt_tokens import JwtTokenAuthority
from incident_gateway.adapters.prometheus_metrics import PrometheusMetrics
from incident_gateway.service.gateway import Gateway
from incident_gateway.service.ports import DeliveryFeed, PresenceStore
from incident_notifier.adapters.alembic_migrations import upgrade_to_head
from incident_notifier.adapters.prometheus_metrics import NotifierMetrics
from incident_notifier.adapters.sql_directory import SqlUserDirectory
from incident_notifier.adapters.sql_engine import make_engine
from incident_notifier.adapters.sql_notifications import SqlNotificationStore
from incident_notifier.config import Settings as NotifierSettings
from incident_notifier.entrypoints.api.app import create_app as create_notifier_app
from incident_notifier.entrypoints.consumer import EventConsumer
from incident_notifier.service.directory_sync import fill_directory_if_empty
from incident_notifier.service.events import EventProcessor
from incident_notifier.service.inbox import Inbox
from incident_notifier.service.ports import DeliveryRouter
from incident_tickets.bootstrap import build as build_tickets
from incident_tickets.config import Settings as TicketsSettings
from incident_tickets.entrypoints.api.app import create_app as create_tickets_app
from incident_tickets.runtime import TicketsRuntime

log = logging.getLogger("incident_devmode")

INTERNAL_BASE = "http://devmode.internal"
"""Base URL of in-process HTTP calls (an ASGI transport: nothing leaves the process)."""


@dataclass
class Modes:
    """What the banner says about each part: in-process, or which server."""

    broker: str
    presence: str
    tickets_database: str
    notifier_database: str


@dataclass
class DevSystem:
    settings: Settings
    app: DevApp
    modes: Modes
    tickets: TicketsRuntime
    gateway: Gateway
    publisher: InProcessEventPublisher | None
    demo_created: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class NotifierApiWiring:
    """What the notifier's inbox API needs (its ``ApiServices``), wired in-process."""

    inbox: Inbox
    verifier: TokenVerifier
    readiness: Sequence[tuple[str, Callable[[], Awaitable[object]]]]
    metrics: NotifierMetrics


@dataclass(frozen=True)
class RedisParts:
    """Presence and routing over a real Redis (``REDIS_URL``): the services' own adapters."""

    router: DeliveryRouter
    presence: PresenceStore
    feed: DeliveryFeed
    closers: list[Callable[[], Awaitable[None]]]


def _redis_parts(
    redis_url: str, notifier_settings: NotifierSettings, instance_id: str
) -> RedisParts:
    # Imported here: the in-process default never needs redis-py (half a second of start).
    from redis.asyncio import Redis

    from incident_gateway.adapters.redis_deliveries import RedisDeliveryFeed
    from incident_gateway.adapters.redis_presence import RedisPresenceStore
    from incident_notifier.adapters.redis_router import RedisDeliveryRouter

    names = notifier_settings.names
    timeout = notifier_settings.redis_timeout_seconds
    routing_client = Redis.from_url(
        redis_url, socket_timeout=timeout, socket_connect_timeout=timeout, decode_responses=True
    )
    commands = Redis.from_url(redis_url, socket_timeout=5.0, socket_connect_timeout=2.0)
    # XREAD BLOCK needs a socket timeout longer than its block time.
    reader = Redis.from_url(redis_url, socket_timeout=30.0, socket_connect_timeout=2.0)
    return RedisParts(
        router=RedisDeliveryRouter(
            routing_client,
            names,
            stream_maxlen=notifier_settings.stream_maxlen,
            stream_ttl_ms=notifier_settings.stream_ttl_seconds * 1000,
        ),
        presence=RedisPresenceStore(commands, names, instance_id),
        feed=RedisDeliveryFeed(reader, names.gateway_stream(instance_id)),
        closers=[routing_client.aclose, commands.aclose, reader.aclose],
    )


def _migrate_notifier(settings: NotifierSettings) -> None:
    """The notifier's migrations (synchronous: Alembic's env runs its own event loop)."""
    directory = settings.sqlite_directory()
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
    upgrade_to_head(settings.database_url)


class TicketsUsersSource:
    """The tickets service's users export, called in-process (the notifier's ``UsersSource``)."""

    def __init__(self, runtime: TicketsRuntime) -> None:
        self._runtime = runtime

    async def users_after(self, after_id: int, limit: int) -> UsersPage:
        users, has_more = await self._runtime.users.export(after_id, limit)
        return UsersPage(results=users, has_more=has_more)


DEV_ARGON2 = {"argon2_time_cost": 2, "argon2_memory_cost_kib": 19_456, "argon2_parallelism": 1}
"""OWASP's minimum Argon2id parameters: a laptop's dev mode starts and signs in quickly.
Any ``TICKETS_ARGON2_*`` variable set in the environment still wins."""


def _tickets_settings(settings: Settings) -> TicketsSettings:
    tickets = TicketsSettings()
    update: dict[str, object] = {}
    if "TICKETS_DATA_DIR" not in os.environ:
        update["data_dir"] = settings.data_dir
    for name, value in DEV_ARGON2.items():
        if f"TICKETS_{name.upper()}" not in os.environ:
            update[name] = value
    return tickets.model_copy(update=update)


def _notifier_settings(settings: Settings) -> NotifierSettings:
    notifier = NotifierSettings()
    if not (os.environ.get("NOTIFIER_DATABASE_URL") or os.environ.get("DATABASE_URL")):
        path = (settings.data_dir / "notifier.db").as_posix()
        notifier = notifier.model_copy(update={"database_url": f"sqlite+aiosqlite:///{path}"})
    return notifier


def _describe_url(url: str) -> str:
    """A URL for the banner: scheme, host and path, never a password."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2]}"


def build(settings: Settings) -> DevSystem:
    """Wire everything; nothing connects until the app's lifespan starts."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    tickets_settings = _tickets_settings(settings)
    notifier_settings = _notifier_settings(settings)
    names = notifier_settings.names

    # --- the notifier's storage and event handling -----------------------------------
    engine = make_engine(notifier_settings.database_url, pool_size=notifier_settings.db_pool_size)
    store = SqlNotificationStore(engine)
    directory = SqlUserDirectory(engine)
    instance_id = settings.instance_id
    routing: InProcessRouting | RedisParts
    if settings.redis_url:
        routing = _redis_parts(settings.redis_url, notifier_settings, instance_id)
    else:
        routing = InProcessRouting()
    router: DeliveryRouter = routing.router if isinstance(routing, RedisParts) else routing
    # The audience read and the writes of a batch on one connection, as the consumer does.
    processor = EventProcessor(store, directory, router, unit=store)
    notifier_metrics = NotifierMetrics()

    # --- the tickets service -----------------------------------------------------------
    publisher = None if settings.amqp_url else InProcessEventPublisher(processor)
    tickets_runtime = build_tickets(tickets_settings, publisher=publisher)
    tickets_app = create_tickets_app(tickets_runtime)
    verifier = TokenVerifier(
        StaticKeySource(tickets_runtime.signing_key.jwks()),
        issuer=notifier_settings.jwt_issuer,
        audience=notifier_settings.jwt_audience,
    )

    # --- the notifier's inbox API ------------------------------------------------------
    @asynccontextmanager
    async def notifier_services() -> AsyncIterator[NotifierApiWiring]:
        yield NotifierApiWiring(
            inbox=Inbox(store, directory),
            verifier=verifier,
            readiness=[("database", store.ping)],
            metrics=notifier_metrics,
        )

    notifier_app = create_notifier_app(notifier_services)

    # --- the gateway -------------------------------------------------------------------
    presence: PresenceStore
    feed: DeliveryFeed
    if isinstance(routing, RedisParts):
        presence, feed = routing.presence, routing.feed
    else:
        presence, feed = routing.presence(instance_id), routing.feed(instance_id)
    # The gateway reads missed records through the notifier's own replay route, in-process.
    replay_client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=notifier_app), base_url=INTERNAL_BASE
    )
    gateway_metrics = PrometheusMetrics(instance_id)
    gateway = Gateway(
        instance_id=instance_id,
        tokens=JwtTokenAuthority(verifier),
        presence=presence,
        feed=feed,
        replay=HttpReplaySource(replay_client, INTERNAL_BASE),
        metrics=gateway_metrics,
    )
    notifications = NotificationsEndpoint(gateway)

    # --- readiness and the console -----------------------------------------------------
    async def tickets_database() -> None:
        await tickets_runtime.database_ready()

    probes: list[tuple[str, Probe]] = [
        ("tickets database", tickets_database),
        ("notifier database", store.ping),
    ]
    if settings.redis_url:
        probes.append(("redis", presence.ping))
    hooks = ConsoleHooks(
        readiness=probes,
        expositions=[
            tickets_runtime.metrics.render,
            notifier_metrics.render,
            gateway_metrics.exposition,
        ],
        demo_users=[user.public() for user in DEMO_USERS] if settings.demo_data else [],
        gateway=gateway,
        notifications=notifications,
    )
    modes = Modes(
        broker=_describe_url(settings.amqp_url) if settings.amqp_url else "in-process",
        presence=_describe_url(settings.redis_url) if settings.redis_url else "in-process",
        tickets_database=_describe_url(tickets_runtime.engine.url.render_as_string()),
        notifier_database=_describe_url(engine.url.render_as_string()),
    )
    system: DevSystem

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            stack.push_async_callback(engine.dispose)
            stack.push_async_callback(replay_client.aclose)
            if isinstance(routing, RedisParts):
                for close in routing.closers:
                    stack.push_async_callback(close)
            if notifier_settings.migrate_on_start:
                # Alembic's env runs its own event loop: give it a thread of its own.
                await asyncio.to_thread(_migrate_notifier, notifier_settings)
            await stack.enter_async_context(tickets_app.router.lifespan_context(tickets_app))
            await stack.enter_async_context(notifier_app.router.lifespan_context(notifier_app))
            if settings.demo_data:
                system.demo_created = await ensure_demo_data(tickets_runtime)
            copied = await fill_directory_if_empty(directory, TicketsUsersSource(tickets_runtime))
            if copied:
                log.info("notifier directory filled with %d users", copied)
            if settings.amqp_url:
                consumer = EventConsumer(
                    settings.amqp_url,
                    names,
                    processor,
                    notifier_metrics,
                    prefetch=notifier_settings.prefetch,
                    batch_size=notifier_settings.batch_size,
                    max_attempts=notifier_settings.max_attempts,
                )
                await _start_in_background(stack, consumer.start, "amqp-consumer")
                stack.push_async_callback(consumer.stop, 5.0)
            await stack.enter_async_context(_running_gateway(gateway, notifications))
            yield

    system = DevSystem(
        settings=settings,
        app=DevApp(
            tickets=tickets_app,
            notifier=notifier_app,
            notifications=notifications,
            console=console_app(hooks),
            lifespan=lifespan,
        ),
        modes=modes,
        tickets=tickets_runtime,
        gateway=gateway,
        publisher=publisher,
    )
    return system


async def _start_in_background(stack: AsyncExitStack, start: Callable[[], Any], name: str) -> None:
    """Start a connect-with-retries coroutine without holding the server's startup."""
    task = asyncio.create_task(start(), name=name)

    async def cancel() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task

    stack.push_async_callback(cancel)


@asynccontextmanager
async def _running_gateway(
    gateway: Gateway, notifications: NotificationsEndpoint
) -> AsyncIterator[None]:
    """The gateway's delivery pump and maintenance, and its orderly shutdown."""
    await gateway.start()
    stop = asyncio.Event()
    workers = [
        asyncio.create_task(gateway.run_pump(stop), name="delivery-pump"),
        asyncio.create_task(gateway.run_maintenance(stop), name="gateway-maintenance"),
    ]
    try:
        yield
    finally:
        stop.set()
        await gateway.withdraw()
        notifications.close_all()
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        await gateway.stop_tasks()

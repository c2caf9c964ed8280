"""The one place where adapters are wired to the use cases, per process role.

Nothing here runs at import time: each function builds its objects from the ``Settings``
it is given, and closes them when its ``async with`` block ends.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

import httpx
from redis.asyncio import Redis

from incident_auth import HttpJwksSource, TokenVerifier
from incident_contracts.timestamps import utc_now
from incident_notifier.adapters.alembic_migrations import upgrade_to_head
from incident_notifier.adapters.http_users_source import HttpUsersSource
from incident_notifier.adapters.prometheus_metrics import NotifierMetrics
from incident_notifier.adapters.redis_inactive_users import MirroredUserDirectory
from incident_notifier.adapters.redis_router import RedisDeliveryRouter
from incident_notifier.adapters.sql_directory import SqlUserDirectory
from incident_notifier.adapters.sql_engine import make_engine
from incident_notifier.adapters.sql_notifications import SqlNotificationStore
from incident_notifier.config import Settings
from incident_notifier.service.claims_retention import claims_retention
from incident_notifier.service.events import EventProcessor
from incident_notifier.service.inbox import Inbox
from incident_notifier.service.ports import UserDirectory, UsersSource
from incident_runtime import RetentionTimer

log = logging.getLogger(__name__)

Probe = Callable[[], Awaitable[object]]


def prepare_database(settings: Settings) -> None:
    """Create the SQLite directory if needed and apply the migrations (synchronously)."""
    directory = settings.sqlite_directory()
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
    upgrade_to_head(settings.database_url)
    log.info("database migrated to the latest revision")


@dataclass(frozen=True)
class ApiWiring:
    inbox: Inbox
    verifier: TokenVerifier
    readiness: Sequence[tuple[str, Probe]]
    metrics: NotifierMetrics


@asynccontextmanager
async def api_services(settings: Settings) -> AsyncIterator[ApiWiring]:
    engine = make_engine(settings.database_url, pool_size=settings.db_pool_size)
    http = httpx.AsyncClient()
    store = SqlNotificationStore(engine)
    verifier = TokenVerifier(
        HttpJwksSource(settings.jwks_url, http),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )
    try:
        yield ApiWiring(
            inbox=Inbox(store, SqlUserDirectory(engine)),
            verifier=verifier,
            readiness=[("database", store.ping)],
            metrics=NotifierMetrics(),
        )
    finally:
        await http.aclose()
        await engine.dispose()


@dataclass(frozen=True)
class ConsumerWiring:
    settings: Settings
    handler: EventProcessor
    directory: UserDirectory
    users_source: UsersSource
    readiness: Sequence[tuple[str, Probe]]
    metrics: NotifierMetrics
    retention: RetentionTimer | None
    """Deletes old idempotency claims; None when the retention is off."""


@asynccontextmanager
async def consumer_services(settings: Settings) -> AsyncIterator[ConsumerWiring]:
    # No pre-ping: a batch that meets a dropped connection is retried whole (the consumer
    # retries StoreUnavailable), so the ping would only cost a round trip per batch.
    engine = make_engine(settings.database_url, pool_size=settings.db_pool_size, pre_ping=False)
    http = httpx.AsyncClient()
    redis = Redis.from_url(
        settings.redis_url,
        socket_timeout=settings.redis_timeout_seconds,
        socket_connect_timeout=settings.redis_timeout_seconds,
        decode_responses=True,
    )
    store = SqlNotificationStore(engine)
    directory = MirroredUserDirectory(SqlUserDirectory(engine), redis, settings.names)
    router = RedisDeliveryRouter(
        redis,
        settings.names,
        stream_maxlen=settings.stream_maxlen,
        stream_ttl_ms=settings.stream_ttl_seconds * 1000,
    )
    metrics = NotifierMetrics()
    hours = settings.processed_events_retention_hours
    retention = (
        claims_retention(store, metrics, utc_now, retention=timedelta(hours=hours))
        if hours > 0
        else None
    )
    try:
        yield ConsumerWiring(
            settings=settings,
            handler=EventProcessor(store, directory, router, unit=store),
            directory=directory,
            users_source=HttpUsersSource(settings.tickets_url, http),
            # Redis is left out on purpose: without it records are still written, and the
            # gateways replay them; taking the consumer out of service would help nobody.
            readiness=[("database", store.ping)],
            metrics=metrics,
            retention=retention,
        )
    finally:
        await redis.aclose()
        await http.aclose()
        await engine.dispose()

"""The only place that wires the gateway's adapters to its use cases.

``wired(settings)`` builds every client and adapter for one instance and closes them after;
``__main__`` hands the result to ``entrypoints.server`` (the layers contract keeps wiring
and entry points apart, so neither imports the other).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import redis.asyncio as redis

from incident_auth import HttpJwksSource, TokenVerifier
from incident_gateway.adapters.http_replay import HttpReplaySource
from incident_gateway.adapters.jwt_tokens import JwtTokenAuthority
from incident_gateway.adapters.pending_writes import PendingWrites
from incident_gateway.adapters.prometheus_metrics import PrometheusMetrics
from incident_gateway.adapters.redis_deliveries import RedisDeliveryFeed
from incident_gateway.adapters.redis_inactive_users import (
    RedisCheckedTokenAuthority,
    RedisInactiveUsers,
)
from incident_gateway.adapters.redis_presence import RedisPresenceStore
from incident_gateway.config import Settings
from incident_gateway.service.gateway import Gateway
from incident_gateway.service.ports import BackendUnavailable

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [gateway %(process)d] %(message)s"


def configure_logging(level: str) -> None:
    logging.basicConfig(stream=sys.stderr, level=level.upper(), format=LOG_FORMAT, force=True)
    # websockets logs request paths at debug (with ?token=...) and every open/close at info;
    # httpx logs URLs at info. Neither belongs in the gateway's log.
    logging.getLogger("websockets").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


@dataclass(frozen=True, slots=True)
class Wiring:
    gateway: Gateway
    presence: RedisPresenceStore
    metrics: PrometheusMetrics
    writes: PendingWrites

    async def readiness(self) -> dict[str, str]:
        """Failed dependencies: only Redis is needed to accept and deliver."""
        try:
            await self.presence.ping()
        except BackendUnavailable as error:
            return {"redis": error.detail}
        return {}


@contextlib.asynccontextmanager
async def wired(settings: Settings) -> AsyncIterator[Wiring]:
    names = settings.names
    # Blocking: redis-py's default pool (100 connections) fails a command at once when all
    # are busy, and a burst of handshakes then found no presence registered.
    commands = redis.Redis.from_pool(
        redis.BlockingConnectionPool.from_url(
            settings.redis_url,
            max_connections=settings.redis_max_connections,
            timeout=settings.redis_wait_seconds,
            socket_timeout=5.0,
            socket_connect_timeout=2.0,
        )
    )
    # A client of its own for XREAD BLOCK: its socket timeout must outlast the block.
    stream_reader = redis.Redis.from_url(
        settings.redis_url, socket_timeout=30.0, socket_connect_timeout=2.0
    )
    http = httpx.AsyncClient(limits=httpx.Limits(max_connections=50))
    try:
        verifier = TokenVerifier(
            HttpJwksSource(settings.jwks_url, http),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            leeway_seconds=settings.jwt_leeway_seconds,
        )
        presence = RedisPresenceStore(commands, names, settings.instance_id)
        metrics = PrometheusMetrics(settings.instance_id)
        writes = PendingWrites()
        inactive = RedisInactiveUsers(commands, names)
        gateway = Gateway(
            instance_id=settings.instance_id,
            tokens=RedisCheckedTokenAuthority(JwtTokenAuthority(verifier), inactive),
            presence=presence,
            feed=RedisDeliveryFeed(stream_reader, names.gateway_stream(settings.instance_id)),
            replay=HttpReplaySource(http, settings.notifier_url),
            metrics=metrics,
            limits=settings.limits(),
            writes=writes,
            inactive=inactive,
        )
        yield Wiring(gateway, presence, metrics, writes)
        with contextlib.suppress(BackendUnavailable):
            await presence.forget_instance()
    finally:
        await http.aclose()
        await commands.aclose()
        await stream_reader.aclose()

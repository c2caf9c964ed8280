"""Routing over Redis: presence (who holds which user) -> one stream per gateway instance.

For each record, the gateway instances holding the recipient's connections are the members
of ``presence_key(user)`` whose score (an expiry in unix ms) lies in the future; each gets
one stream entry. Two pipelined round trips per batch, whatever its size.

Redis being down must never block or fail event processing: errors are logged, and for a
short pause routing is skipped altogether so that every event does not wait out a timeout.
The records are committed; gateways notice the gap in ``seq`` and replay it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from redis.asyncio import Redis
from redis.exceptions import RedisError

from incident_contracts import Delivery, Names
from incident_contracts.notifications import (
    DELIVERY_FRAME_FIELD,
    DELIVERY_ROUTED_AT_FIELD,
    DELIVERY_SEQ_FIELD,
    DELIVERY_USER_FIELD,
)

log = logging.getLogger(__name__)


def _unix_ms() -> int:
    return time.time_ns() // 1_000_000


class RedisDeliveryRouter:
    def __init__(
        self,
        client: Redis,
        names: Names,
        *,
        stream_maxlen: int = 10_000,
        stream_ttl_ms: int = 3_600_000,
        pause_after_failure: float = 2.0,
        now_ms: Callable[[], int] = _unix_ms,
    ) -> None:
        self._client = client
        self._names = names
        self._maxlen = stream_maxlen
        self._ttl_ms = stream_ttl_ms
        self._pause = pause_after_failure
        self._now_ms = now_ms
        self._paused_until = 0.0
        self.failures = 0

    async def route(self, deliveries: Sequence[Delivery]) -> int:
        if not deliveries or time.monotonic() < self._paused_until:
            return 0
        try:
            return await self._route(deliveries)
        except (RedisError, OSError, TimeoutError) as error:
            self.failures += 1
            self._paused_until = time.monotonic() + self._pause
            log.warning(
                "routing %d notification(s) failed, gateways will replay them: %s",
                len(deliveries),
                error,
            )
            return 0

    async def _route(self, deliveries: Sequence[Delivery]) -> int:
        now = self._now_ms()
        async with self._client.pipeline(transaction=False) as pipe:
            for item in deliveries:
                pipe.zrangebyscore(self._names.presence_key(item.user_id), f"({now}", "+inf")
            holders: list[list[bytes | str]] = await pipe.execute()
        targets = [
            (item, member.decode() if isinstance(member, bytes) else member)
            for item, members in zip(deliveries, holders, strict=True)
            for member in members
        ]
        if not targets:
            return 0
        async with self._client.pipeline(transaction=False) as pipe:
            for item, instance in targets:
                stream = self._names.gateway_stream(instance)
                pipe.xadd(
                    stream,
                    {
                        DELIVERY_USER_FIELD: str(item.user_id),
                        DELIVERY_SEQ_FIELD: str(item.seq),
                        DELIVERY_FRAME_FIELD: item.frame,
                        DELIVERY_ROUTED_AT_FIELD: str(now),
                    },
                    maxlen=self._maxlen,
                    approximate=True,
                )
                pipe.pexpire(stream, self._ttl_ms)
            await pipe.execute()
        return len(targets)

    async def ping(self) -> None:
        await self._client.ping()

"""Routing over Redis: presence (who holds which user) -> one stream per gateway instance.

For each record, the gateway instances holding the recipient's connections are the members
of ``presence_key(user)`` whose score (an expiry in unix ms) lies in the future; each gets
one stream entry. One round trip per batch, whatever its size: a Lua script (sent once,
then called by its digest) looks the holders up and appends the entries, so the entries
of a batch are also written atomically.

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


# KEYS: one presence key per delivery. ARGV: now (unix ms), stream MAXLEN, stream TTL (ms),
# the stream key before and after the instance id, then user, seq, frame per delivery.
_ROUTE = f"""
local now = ARGV[1]
local routed = 0
for i, presence in ipairs(KEYS) do
    local at = 5 + (i - 1) * 3
    for _, instance in ipairs(redis.call('ZRANGEBYSCORE', presence, '(' .. now, '+inf')) do
        local stream = ARGV[4] .. instance .. ARGV[5]
        redis.call('XADD', stream, 'MAXLEN', '~', ARGV[2], '*',
            '{DELIVERY_USER_FIELD}', ARGV[at + 1], '{DELIVERY_SEQ_FIELD}', ARGV[at + 2],
            '{DELIVERY_FRAME_FIELD}', ARGV[at + 3], '{DELIVERY_ROUTED_AT_FIELD}', now)
        redis.call('PEXPIRE', stream, ARGV[3])
        routed = routed + 1
    end
end
return routed
"""


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
        # Calls EVALSHA, and loads the script again when Redis lost it (a restart).
        self._script = client.register_script(_ROUTE)
        marker = "\x00"
        self._stream_before, self._stream_after = names.gateway_stream(marker).split(marker)

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
        args: list[str | int] = [
            self._now_ms(),
            self._maxlen,
            self._ttl_ms,
            self._stream_before,
            self._stream_after,
        ]
        for item in deliveries:
            args += (item.user_id, item.seq, item.frame)
        keys = [self._names.presence_key(item.user_id) for item in deliveries]
        return int(await self._script(keys=keys, args=args))

    async def ping(self) -> None:
        await self._client.ping()

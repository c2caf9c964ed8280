"""Presence in Redis: which gateway instances hold connections of a user.

``Names.presence_key(user)`` is a sorted set: member = instance id, score = expiry in unix
milliseconds (the notifier routes to members whose score is still ahead of now). The key
itself expires too, so a user whose every instance died leaves nothing behind.
``Names.gateway_alive_key(instance)`` tells whether Redis still remembers this instance: it
is gone after a Redis restart, which makes the gateway register everyone again at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as redis
from redis.exceptions import RedisError

from incident_contracts.names import Names
from incident_gateway.service.ports import BackendUnavailable

_CHUNK = 1000
"""Users per request: bounded request size even with many thousands of connections."""

# KEYS: presence keys; ARGV: instance id, expiry (unix ms), now (unix ms), key ttl (ms).
# One script call per chunk instead of three pipelined commands per user: redis-py spent
# ~30 ms of the gateway's CPU per 1,000 users on building and parsing those commands.
_REGISTER = """
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, ARGV[2], ARGV[1])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[3])
  redis.call('PEXPIRE', key, ARGV[4])
end
return #KEYS
"""


class RedisPresenceStore:
    def __init__(self, client: redis.Redis, names: Names, instance_id: str) -> None:
        self._client = client
        self._names = names
        self._instance_id = instance_id
        self._alive_key = names.gateway_alive_key(instance_id)
        self._register_script = client.register_script(_REGISTER)

    async def register(self, user_ids: Sequence[int], expires_at_ms: int, ttl_ms: int) -> None:
        now_ms = expires_at_ms - ttl_ms
        try:
            for start in range(0, max(len(user_ids), 1), _CHUNK):
                async with self._client.pipeline(transaction=False) as pipe:
                    if start == 0:
                        pipe.set(self._alive_key, "1", px=ttl_ms)
                    # ZREMRANGEBYSCORE: members of instances that died without cleaning up.
                    await self._register_script(
                        keys=[
                            self._names.presence_key(u) for u in user_ids[start : start + _CHUNK]
                        ],
                        args=[self._instance_id, expires_at_ms, now_ms, ttl_ms],
                        client=pipe,
                    )
                    await pipe.execute()
        except (RedisError, OSError) as error:
            raise BackendUnavailable(f"Redis did not take the presence write: {error}") from error

    async def unregister(self, user_ids: Sequence[int]) -> None:
        try:
            for start in range(0, len(user_ids), _CHUNK):
                async with self._client.pipeline(transaction=False) as pipe:
                    for user_id in user_ids[start : start + _CHUNK]:
                        pipe.zrem(self._names.presence_key(user_id), self._instance_id)
                    await pipe.execute()
        except (RedisError, OSError) as error:
            raise BackendUnavailable(f"Redis did not take the presence removal: {error}") from error

    async def forget_instance(self) -> None:
        """Remove the alive marker (graceful shutdown)."""
        try:
            await self._client.delete(self._alive_key)
        except (RedisError, OSError) as error:
            raise BackendUnavailable(f"Redis did not answer: {error}") from error

    async def intact(self) -> bool:
        try:
            return bool(await self._client.exists(self._alive_key))
        except (RedisError, OSError) as error:
            raise BackendUnavailable(f"Redis did not answer: {error}") from error

    async def ping(self) -> None:
        try:
            await self._client.ping()
        except (RedisError, OSError) as error:
            raise BackendUnavailable(f"Redis did not answer: {error}") from error

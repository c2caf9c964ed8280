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
"""Users per pipeline: bounded request size even with many thousands of connections."""


class RedisPresenceStore:
    def __init__(self, client: redis.Redis, names: Names, instance_id: str) -> None:
        self._client = client
        self._names = names
        self._instance_id = instance_id
        self._alive_key = names.gateway_alive_key(instance_id)

    async def register(self, user_ids: Sequence[int], expires_at_ms: int, ttl_ms: int) -> None:
        now_ms = expires_at_ms - ttl_ms
        try:
            for start in range(0, max(len(user_ids), 1), _CHUNK):
                async with self._client.pipeline(transaction=False) as pipe:
                    if start == 0:
                        pipe.set(self._alive_key, "1", px=ttl_ms)
                    for user_id in user_ids[start : start + _CHUNK]:
                        key = self._names.presence_key(user_id)
                        pipe.zadd(key, {self._instance_id: expires_at_ms})
                        # Members of instances that died without cleaning up.
                        pipe.zremrangebyscore(key, "-inf", now_ms)
                        pipe.pexpire(key, ttl_ms)
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

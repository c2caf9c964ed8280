"""This instance's delivery stream in Redis (``Names.gateway_stream(instance_id)``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

from incident_gateway.service.ports import BackendUnavailable, StreamEntry


class RedisDeliveryFeed:
    def __init__(self, client: redis.Redis, stream_key: str) -> None:
        """``client`` is the feed's own (XREAD BLOCK holds its connection; its socket timeout
        must exceed the block time): its XREAD answers are left as Redis sends them."""
        # redis-py would build a dict and tuples per entry, about half of the reading's cost.
        client.set_response_callback("XREAD", _unparsed)
        self._client = client
        self._execute: Callable[..., Awaitable[Any]] = client.execute_command
        self._key = stream_key

    async def current_end(self) -> str:
        try:
            last: Any = await self._client.xrevrange(self._key, "+", "-", count=1)
        except (RedisError, OSError) as error:
            raise BackendUnavailable(f"Redis did not answer: {error}") from error
        return _text(last[0][0]) if last else "0-0"

    async def read_after(self, entry_id: str, block_ms: int, count: int) -> list[StreamEntry]:
        try:
            answer = await self._execute(
                "XREAD", "COUNT", count, "BLOCK", block_ms, "STREAMS", self._key, entry_id
            )
        except (RedisError, OSError) as error:
            raise BackendUnavailable(f"Redis did not answer: {error}") from error
        if not answer:
            return []
        # RESP2 answers [[key, entries]], RESP3 {key: entries}; an entry is [id, fields].
        streams = answer.values() if isinstance(answer, dict) else (item[1] for item in answer)
        return [(_text(raw_id), fields) for stream in streams for raw_id, fields in stream]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _unparsed(response: Any, **options: Any) -> Any:
    return response

"""This instance's delivery stream in Redis (``Names.gateway_stream(instance_id)``)."""

from __future__ import annotations

import asyncio
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

    async def read_ahead(self, entry_id: str, count: int) -> asyncio.Future[list[StreamEntry]]:
        # Without BLOCK (BLOCK 0 would wait forever): an empty answer when nothing is there.
        answer = asyncio.get_running_loop().create_task(self._xread(entry_id, count))
        # redis-py takes two turns of the loop (a pooled connection, then the write) before the
        # command is sent: only then does Redis prepare the answer while this process works.
        try:
            for _ in range(2):
                await asyncio.sleep(0)
        except BaseException:  # cancelled (shutdown): the read must not outlive its reader
            answer.cancel()
            raise
        return answer

    async def read_after(self, entry_id: str, block_ms: int, count: int) -> list[StreamEntry]:
        return await self._xread(entry_id, count, "BLOCK", block_ms)

    async def _xread(self, entry_id: str, count: int, *options: str | int) -> list[StreamEntry]:
        try:
            answer = await self._execute(
                "XREAD", "COUNT", count, *options, "STREAMS", self._key, entry_id
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

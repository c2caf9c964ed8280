"""This instance's delivery stream in Redis (``Names.gateway_stream(instance_id)``)."""

from __future__ import annotations

from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

from incident_gateway.service.ports import BackendUnavailable, StreamEntry


class RedisDeliveryFeed:
    def __init__(self, client: redis.Redis, stream_key: str) -> None:
        # The client's socket timeout must exceed the XREAD block time.
        self._client = client
        self._key = stream_key

    async def current_end(self) -> str:
        try:
            last: Any = await self._client.xrevrange(self._key, "+", "-", count=1)
        except (RedisError, OSError) as error:
            raise BackendUnavailable(f"Redis did not answer: {error}") from error
        return _text(last[0][0]) if last else "0-0"

    async def read_after(self, entry_id: str, block_ms: int, count: int) -> list[StreamEntry]:
        try:
            answer: Any = await self._client.xread(
                {self._key: entry_id}, count=count, block=block_ms
            )
        except (RedisError, OSError) as error:
            raise BackendUnavailable(f"Redis did not answer: {error}") from error
        if not answer:
            return []
        # RESP2 answers [[key, entries]], RESP3 {key: [entries]}.
        streams = answer.values() if isinstance(answer, dict) else (item[1] for item in answer)
        entries: list[StreamEntry] = []
        for stream in streams:
            if stream and isinstance(stream[0], list) and len(stream) == 1:
                stream = stream[0]  # RESP3 nests the entries once more
            for raw_id, fields in stream:
                entries.append((_text(raw_id), fields))
        return entries


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value

"""In-memory fakes of the gateway's ports, for unit tests and for running without servers."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from incident_gateway.domain.auth import Identity
from incident_gateway.domain.errors import InvalidToken, ReplayUnavailable
from incident_gateway.service.ports import BackendUnavailable, ReplayBatch, StreamEntry

__all__ = [
    "InMemoryDeliveryFeed",
    "InMemoryMetrics",
    "InMemoryPresenceStore",
    "InMemoryReplaySource",
    "RecordingPeer",
    "StaticTokenAuthority",
]


class StaticTokenAuthority:
    """Tokens known up front: ``tokens[token] = Identity``; anything else is refused."""

    def __init__(self, tokens: Mapping[str, Identity] | None = None) -> None:
        self.tokens: dict[str, Identity] = dict(tokens or {})
        self.expired: set[str] = set()

    async def identify(self, token: str) -> Identity:
        if token in self.expired:
            raise InvalidToken("The token has expired.", code="token_expired")
        identity = self.tokens.get(token)
        if identity is None:
            raise InvalidToken("The token is malformed.")
        return identity


@dataclass
class InMemoryPresenceStore:
    """Presence as the notifier would see it: user -> {instance: expiry ms}."""

    instance_id: str = "test-instance"
    members: dict[int, dict[str, int]] = field(default_factory=dict)
    alive: bool = False
    available: bool = True
    writes: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)

    def _check(self) -> None:
        if not self.available:
            raise BackendUnavailable("Redis is down (fake).")

    async def register(self, user_ids: Sequence[int], expires_at_ms: int, ttl_ms: int) -> None:
        self._check()
        self.alive = True
        self.writes.append(("register", tuple(user_ids)))
        for user_id in user_ids:
            self.members.setdefault(user_id, {})[self.instance_id] = expires_at_ms

    async def unregister(self, user_ids: Sequence[int]) -> None:
        self._check()
        self.writes.append(("unregister", tuple(user_ids)))
        for user_id in user_ids:
            instances = self.members.get(user_id, {})
            instances.pop(self.instance_id, None)
            if not instances:
                self.members.pop(user_id, None)

    async def intact(self) -> bool:
        self._check()
        return self.alive

    async def ping(self) -> None:
        self._check()

    def forget_everything(self) -> None:
        """What a Redis restart does."""
        self.members.clear()
        self.alive = False

    def registered(self) -> set[int]:
        return {user for user, instances in self.members.items() if self.instance_id in instances}


class InMemoryDeliveryFeed:
    """A stream of entries with ids ``<n>-0``; ``read_after`` waits for new ones."""

    def __init__(self) -> None:
        self.entries: list[StreamEntry] = []
        self._changed = asyncio.Event()

    def add(self, user_id: int, seq: int, frame: bytes, routed_at_ms: int | None = None) -> str:
        entry_id = f"{len(self.entries) + 1}-0"
        fields = [b"u", str(user_id).encode(), b"s", str(seq).encode(), b"n", frame]
        if routed_at_ms is not None:
            fields += [b"t", str(routed_at_ms).encode()]
        self.entries.append((entry_id, fields))
        self._changed.set()
        return entry_id

    async def current_end(self) -> str:
        return self.entries[-1][0] if self.entries else "0-0"

    async def read_ahead(self, entry_id: str, count: int) -> asyncio.Future[list[StreamEntry]]:
        answer = asyncio.get_running_loop().create_future()
        answer.set_result(self._after(entry_id, count))
        return answer

    async def read_after(self, entry_id: str, block_ms: int, count: int) -> list[StreamEntry]:
        if not self._after(entry_id, count):
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=block_ms / 1000)
            except TimeoutError:
                return []
        return self._after(entry_id, count)

    def _after(self, entry_id: str, count: int) -> list[StreamEntry]:
        start = int(entry_id.split("-")[0])
        return self.entries[start : start + count]


class InMemoryReplaySource:
    """A user's stored records: ``store(user, seq, frame)``; ``failing`` makes reads fail."""

    def __init__(self) -> None:
        self.records: dict[int, dict[int, bytes]] = {}
        self.failing = False
        self.requests: list[tuple[int, int, int]] = []

    def store(self, user_id: int, seq: int, frame: bytes) -> None:
        self.records.setdefault(user_id, {})[seq] = frame

    async def after(self, user_id: int, after_seq: int, limit: int) -> ReplayBatch:
        self.requests.append((user_id, after_seq, limit))
        if self.failing:
            raise ReplayUnavailable("The notifier is down (fake).")
        later = sorted(
            (seq, frame) for seq, frame in self.records.get(user_id, {}).items() if seq > after_seq
        )
        return ReplayBatch(records=later[:limit], has_more=len(later) > limit)


class InMemoryInactiveUsers:
    """The deactivated users' set; ``failing`` makes it answer like an unreachable Redis."""

    def __init__(self) -> None:
        self.user_ids: set[int] = set()
        self.failing = False

    async def among(self, user_ids: Sequence[int]) -> set[int]:
        if self.failing:
            raise BackendUnavailable("Redis did not answer (test)")
        return self.user_ids.intersection(user_ids)


class RecordingPeer:
    """A client connection that records what it was sent and how it was closed."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.buffered = 0

    def send(self, frame: bytes) -> None:
        if self.close_code is None:
            self.frames.append(frame)

    def close(self, code: int, reason: str) -> None:
        if self.close_code is None:
            self.close_code = code
            self.close_reason = reason

    @property
    def buffered_bytes(self) -> int:
        return self.buffered


@dataclass
class InMemoryMetrics:
    counts: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    open_connections: int = 0

    def connection_opened(self) -> None:
        self.open_connections += 1

    def connection_closed(self) -> None:
        self.open_connections -= 1

    def handshake_rejected(self, code: str) -> None:
        self.counts[f"rejected:{code}"] += 1

    def routed(self, entries: int) -> None:
        self.counts["routed"] += entries

    def unroutable(self) -> None:
        self.counts["unroutable"] += 1

    def delivered(self, count: int, latency_seconds: float | None) -> None:
        self.counts["delivered"] += count
        if latency_seconds is not None:
            self.latencies.extend([latency_seconds] * count)

    def slow_client_disconnected(self) -> None:
        self.counts["slow"] += 1

    def replay_fetch(self, reason: str) -> None:
        self.counts[f"replay:{reason}"] += 1

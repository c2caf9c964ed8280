"""What the gateway needs from the outside world, as protocols.

Adapters in ``incident_gateway.adapters`` implement them over Redis, HTTP and Prometheus; the
in-memory fakes in ``incident_gateway.testing`` implement them for tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from incident_gateway.domain.auth import Identity
from incident_gateway.domain.errors import GatewayError


class BackendUnavailable(GatewayError):
    """Redis (presence, deliveries) did not answer."""

    status = 503
    code = "backend_unavailable"


class TokenAuthority(Protocol):
    async def identify(self, token: str) -> Identity:
        """The holder of a valid access token; raises ``InvalidToken`` otherwise."""
        ...


class InactiveUsers(Protocol):
    async def among(self, user_ids: Sequence[int]) -> set[int]:
        """Which of these users have been deactivated; raises ``BackendUnavailable``."""
        ...


class PresenceStore(Protocol):
    async def register(self, user_ids: Sequence[int], expires_at_ms: int, ttl_ms: int) -> None:
        """Mark this instance as holding connections of these users until ``expires_at_ms``."""
        ...

    async def unregister(self, user_ids: Sequence[int]) -> None:
        """This instance holds no connection of these users any more."""
        ...

    async def intact(self) -> bool:
        """False when the store has forgotten this instance (Redis restarted, keys expired)."""
        ...

    async def ping(self) -> None:
        """Raise ``BackendUnavailable`` when the store does not answer."""
        ...


StreamEntry = tuple[str, Sequence[bytes]]
"""An entry id and its fields as Redis sends them: name, value, name, value, ..."""


class DeliveryFeed(Protocol):
    async def current_end(self) -> str:
        """The id of the last entry of this instance's stream now (``0-0`` when empty)."""
        ...

    async def read_after(self, entry_id: str, block_ms: int, count: int) -> list[StreamEntry]:
        """Entries after ``entry_id``, waiting up to ``block_ms`` for the first one."""
        ...

    async def read_ahead(self, entry_id: str, count: int) -> asyncio.Future[list[StreamEntry]]:
        """Ask now, without waiting, for the entries after ``entry_id``: returns once the
        request is on its way, with the answer's future (empty when there are none yet)."""
        ...


@dataclass(frozen=True, slots=True)
class ReplayBatch:
    records: list[tuple[int, bytes]]
    """(seq, notification JSON) in ascending seq."""
    has_more: bool


class ReplaySource(Protocol):
    async def after(self, user_id: int, after_seq: int, limit: int) -> ReplayBatch:
        """The user's stored records after ``after_seq``; raises ``ReplayUnavailable``."""
        ...


class Peer(Protocol):
    """One client connection, as the use cases see it: sends never wait."""

    def send(self, frame: bytes) -> None:
        """Queue one text frame; a closed peer drops it."""
        ...

    def close(self, code: int, reason: str) -> None:
        """Start the closing handshake (it finishes in the background)."""
        ...

    @property
    def buffered_bytes(self) -> int:
        """Bytes written but not yet accepted by the client's TCP window."""
        ...


class WriteBatching(Protocol):
    """When the frames handed to peers reach their sockets: at the end of the event loop's
    turn, unless held (one write per connection for all it was handed meanwhile)."""

    def hold(self) -> None:
        """Keep what peers are handed from now on until ``release``."""
        ...

    def release(self) -> None:
        """Write everything held, at the end of this turn."""
        ...


class Metrics(Protocol):
    def connection_opened(self) -> None: ...
    def connection_closed(self) -> None: ...
    def handshake_rejected(self, code: str) -> None: ...
    def routed(self, entries: int) -> None:
        """Entries read from this instance's delivery stream."""
        ...

    def unroutable(self) -> None:
        """An entry for a user with no connection here (disconnected meanwhile)."""
        ...

    def delivered(self, count: int, latency_seconds: float | None) -> None:
        """``count`` notifications written to connections, each ``latency_seconds`` after
        its routing (None: replayed records, never routed)."""
        ...

    def slow_client_disconnected(self) -> None: ...
    def replay_fetch(self, reason: str) -> None:
        """A read of stored records: ``since`` (a resume) or ``gap`` (a missed route)."""
        ...

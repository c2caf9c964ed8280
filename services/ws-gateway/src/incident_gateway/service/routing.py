"""Which local connections a routed notification goes to, and how it arrives (pure).

The notifier appends one entry per (record, gateway instance) to the instance's Redis stream
with the fields of ``incident_contracts.notifications``: ``u`` user id, ``s`` seq, ``n`` the
notification JSON (encoded once, sent as-is) and ``t`` when it was routed (unix ms).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from incident_contracts.notifications import (
    DELIVERY_FRAME_FIELD,
    DELIVERY_ROUTED_AT_FIELD,
    DELIVERY_SEQ_FIELD,
    DELIVERY_USER_FIELD,
)

_USER = DELIVERY_USER_FIELD.encode()
_SEQ = DELIVERY_SEQ_FIELD.encode()
_FRAME = DELIVERY_FRAME_FIELD.encode()
_ROUTED_AT = DELIVERY_ROUTED_AT_FIELD.encode()

C = TypeVar("C")


@dataclass(slots=True)  # not frozen: one per routed entry, and frozen makes __init__ 4x slower
class RoutedDelivery:
    user_id: int
    seq: int
    frame: bytes
    routed_at_ms: int | None


def parse_entry(fields: Sequence[bytes]) -> RoutedDelivery | None:
    """The delivery in one stream entry (its fields as Redis sends them: name, value, ...),
    or None when the entry is not one."""
    pairs = iter(fields)
    named = dict(zip(pairs, pairs, strict=False))
    try:
        user_id = int(named[_USER])
        seq = int(named[_SEQ])
        frame = named[_FRAME]
    except (KeyError, ValueError):
        return None
    raw_routed_at = named.get(_ROUTED_AT)
    try:
        routed_at_ms = int(raw_routed_at) if raw_routed_at is not None else None
    except ValueError:
        routed_at_ms = None
    return RoutedDelivery(user_id, seq, frame, routed_at_ms)


def presence_expiry_ms(now_ms: int, ttl_ms: int) -> int:
    """The score of this instance in a user's presence set: when it stops counting."""
    return now_ms + ttl_ms


class LocalRoutes(Generic[C]):
    """The open connections of this instance, by user.

    ``add`` says whether it was the user's first local connection (register presence) and
    ``remove`` whether it was the last one (remove presence).
    """

    __slots__ = ("_by_user", "_count")

    def __init__(self) -> None:
        self._by_user: dict[int, set[C]] = {}
        self._count = 0

    def add(self, user_id: int, connection: C) -> bool:
        connections = self._by_user.setdefault(user_id, set())
        first = not connections
        if connection not in connections:
            connections.add(connection)
            self._count += 1
        return first

    def remove(self, user_id: int, connection: C) -> bool:
        connections = self._by_user.get(user_id)
        if connections is None or connection not in connections:
            return False
        connections.remove(connection)
        self._count -= 1
        if connections:
            return False
        del self._by_user[user_id]
        return True

    def connections_of(self, user_id: int) -> tuple[C, ...]:
        return tuple(self._by_user.get(user_id, ()))

    def has(self, user_id: int) -> bool:
        return user_id in self._by_user

    def users(self) -> list[int]:
        return list(self._by_user)

    def __iter__(self) -> Iterator[C]:
        for connections in list(self._by_user.values()):
            yield from list(connections)

    def __len__(self) -> int:
        return self._count

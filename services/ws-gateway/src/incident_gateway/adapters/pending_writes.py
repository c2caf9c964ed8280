"""Frames handed to peers and not written yet: written once per turn of the event loop.

A batch of deliveries often holds several frames for one connection; written together they
cost one system call (and one read on the client's side) instead of one each. While the use
cases hold the writes (a backlog is being read), they wait for ``release``.
"""

from __future__ import annotations

import asyncio
from typing import Protocol


class Flushable(Protocol):
    def flush(self) -> None:
        """Write everything handed to it so far."""
        ...


class PendingWrites:
    """The gateway's ``WriteBatching``: the peers with something to write, in order."""

    __slots__ = ("_held", "_peers", "_scheduled")

    def __init__(self) -> None:
        self._peers: list[Flushable] = []
        self._held = False
        self._scheduled = False

    def add(self, peer: Flushable) -> None:
        """``peer`` has frames to write (called once until it is flushed)."""
        self._peers.append(peer)
        self._schedule()

    def hold(self) -> None:
        self._held = True

    def release(self) -> None:
        self._held = False
        self._schedule()

    def flush(self) -> None:
        self._scheduled = False
        if self._held:
            return  # ``release`` schedules the next one
        peers, self._peers = self._peers, []
        for peer in peers:
            peer.flush()

    def _schedule(self) -> None:
        if not self._scheduled and not self._held and self._peers:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

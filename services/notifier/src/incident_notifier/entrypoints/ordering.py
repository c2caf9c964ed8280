"""Keep user events in their place among the messages handled concurrently.

Ticket events run side by side (up to the prefetch). A user event (a new admin, a
deactivation) must see every earlier message finished and hold back every later one:
otherwise a ``ticket.created`` published right after ``user.created`` of an admin could be
handled first and miss that admin. ``ArrivalGate`` gives exactly that order, in arrival
order, without a lock around the whole handler.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class ArrivalGate:
    def __init__(self) -> None:
        self._running: set[asyncio.Future[None]] = set()
        self._last_exclusive: asyncio.Future[None] | None = None

    @asynccontextmanager
    async def passage(self, *, exclusive: bool) -> AsyncIterator[None]:
        """Enter in the order of the calls (register before the first ``await``)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waits = [self._last_exclusive] if self._last_exclusive is not None else []
        if exclusive:
            waits.extend(self._running)
            self._running = set()
            self._last_exclusive = done
        else:
            self._running.add(done)
        try:
            pending = [future for future in waits if not future.done()]
            if pending:
                await asyncio.wait(pending)
            yield
        finally:
            done.set_result(None)
            self._running.discard(done)

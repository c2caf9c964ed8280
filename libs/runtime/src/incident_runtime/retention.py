"""Retention on a slow timer: rows older than a cutoff are deleted, a bounded batch at a time.

A bounded batch per statement, so no transaction holds many locks or bloats the WAL in one
go. Replicas may prune at the same time: each only deletes rows nobody needs any more, so
the timer takes no lock of its own. What is old and how it is deleted is the ``prune``
callable's business (the service's store); the timer owns the cutoff, the batching, the
logging, the metric and the schedule.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime, timedelta

log = logging.getLogger(__name__)

Prune = Callable[[datetime, int], Awaitable[int]]
"""``prune(cutoff, limit)``: delete up to ``limit`` rows older than ``cutoff``, oldest first;
returns how many were deleted."""

PrunedCount = Callable[[int], None]
"""Told every non-empty batch's count (the service's metric)."""

Clock = Callable[[], datetime]


@dataclass(eq=False)
class RetentionTimer:
    """Prunes ``retention``-old rows every ``interval`` seconds once started."""

    prune: Prune
    pruned: PrunedCount
    clock: Clock
    _: KW_ONLY
    name: str
    """Names the task (``{name}-retention``) and starts the log lines (``{name} retention:``)."""
    rows: str
    """What was deleted, in the plural, for the log lines: "deleted 3 rows sent before ..."."""
    retention: timedelta
    interval: float = 600.0
    first_delay: float = 30.0
    batch_size: int = 1000
    _stop: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False, repr=False)

    def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self.run(), name=f"{self.name}-retention")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run(self) -> None:
        delay = self.first_delay
        while not await self._stopped_within(delay):
            try:
                await self.prune_once()
            except Exception as error:  # the database is away: the next run tries again
                log.warning(
                    "%s retention: pruning failed (%s); next try in %.0f s",
                    self.name,
                    error,
                    self.interval,
                )
            delay = self.interval

    async def prune_once(self) -> int:
        """Delete every row older than the retention now; returns how many."""
        # One cutoff for the whole run: rows that age meanwhile wait for the next one.
        cutoff = self.clock() - self.retention
        total = 0
        while not self._stop.is_set():
            deleted = await self.prune(cutoff, self.batch_size)
            total += deleted
            if deleted:
                self.pruned(deleted)
            if deleted < self.batch_size:
                break
        if total:
            log.info(
                "%s retention: deleted %d %s before %s",
                self.name,
                total,
                self.rows,
                cutoff.isoformat(),
            )
        else:
            log.debug("%s retention: no %s before %s", self.name, self.rows, cutoff.isoformat())
        return total

    async def _stopped_within(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)
        return self._stop.is_set()

"""Retention of the idempotency claims (``processed_events``): kept for a long period, far
beyond any redelivery, then deleted oldest first in bounded batches, on a slow timer in the
consumer process. The records themselves (the users' inboxes) are never deleted here.
Replicas may prune at the same time: they only delete claims nobody needs any more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from incident_notifier.service.ports import ClaimsPruner, RetentionMetrics

log = logging.getLogger(__name__)


class ClaimsRetention:
    def __init__(
        self,
        store: ClaimsPruner,
        metrics: RetentionMetrics,
        clock: Callable[[], datetime],
        *,
        retention: timedelta,
        interval: float = 600.0,
        first_delay: float = 30.0,
        batch_size: int = 1000,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._clock = clock
        self._retention = retention
        self._interval = interval
        self._first_delay = first_delay
        self._batch_size = batch_size
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self.run(), name="claims-retention")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run(self) -> None:
        delay = self._first_delay
        while not await self._stopped_within(delay):
            try:
                await self.prune_once()
            except Exception as error:  # the database is away: the next run tries again
                log.warning(
                    "claims retention: pruning failed (%s); next try in %.0f s",
                    error,
                    self._interval,
                )
            delay = self._interval

    async def prune_once(self) -> int:
        """Delete every claim older than the retention now; returns how many."""
        # One cutoff for the whole run: claims made meanwhile wait for the next one.
        cutoff = self._clock() - self._retention
        total = 0
        while not self._stop.is_set():
            deleted = await self._store.prune_claims(cutoff, self._batch_size)
            total += deleted
            if deleted:
                self._metrics.claims_pruned(deleted)
            if deleted < self._batch_size:
                break
        if total:
            log.info(
                "claims retention: deleted %d processed events claimed before %s",
                total,
                cutoff.isoformat(),
            )
        else:
            log.debug("claims retention: no claim made before %s", cutoff.isoformat())
        return total

    async def _stopped_within(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)
        return self._stop.is_set()

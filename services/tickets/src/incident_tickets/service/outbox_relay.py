"""The outbox relay: moves committed events from the outbox table to RabbitMQ.

It is woken right after each commit of this process (``wake``), and sweeps the table every
``sweep_interval`` seconds as well, which catches rows committed by other processes and rows
left over by a crash. When the broker is unreachable it reconnects with exponential backoff;
rows simply wait in the table, in order, and requests are never held up by it.

Among replicas, only the holder of the ``RelayLease`` publishes; the others stand by, asking
for the lease once a sweep, and ignore commits meanwhile. A holder that cannot publish gives
the lease up, so that a replica which can reach the broker takes over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from datetime import UTC, datetime

from incident_tickets.service.ports import (
    EventPublisher,
    OutboxMessage,
    OutboxStore,
    RelayLease,
    RelayMetrics,
)

log = logging.getLogger(__name__)

_REMEMBERED_COMMITS = 10_000
"""Commit times kept for events not yet confirmed (bounded: the broker may be down a while)."""


class SoleRelay:
    """The lease where nothing competes (SQLite, or the lease turned off): always held."""

    async def acquire(self) -> bool:
        return True

    async def release(self) -> None:
        return None


class OutboxRelay:
    def __init__(
        self,
        store: OutboxStore,
        publisher: EventPublisher,
        metrics: RelayMetrics,
        *,
        sweep_interval: float = 1.0,
        batch_size: int = 200,
        backoff_initial: float = 0.2,
        backoff_max: float = 5.0,
        lease: RelayLease | None = None,
    ) -> None:
        self._store = store
        self._lease: RelayLease = lease or SoleRelay()
        self._publisher = publisher
        self._metrics = metrics
        self._sweep_interval = sweep_interval
        self._batch_size = batch_size
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._wake = asyncio.Event()
        self._committed_at: OrderedDict[str, float] = OrderedDict()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return self._publisher.connected

    def wake(self) -> None:
        """Look at the outbox now (another process committed: the PostgreSQL listener)."""
        self._wake.set()

    def committed(self, event_ids: list[str]) -> None:
        """This process committed these events just now (the unit of work's after-commit
        hook): wake up, and remember when, for an exact commit->confirm delay."""
        now = time.perf_counter()
        for event_id in event_ids:
            self._committed_at[event_id] = now
        while len(self._committed_at) > _REMEMBERED_COMMITS:
            self._committed_at.popitem(last=False)
        self._wake.set()

    def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self.run(), name="outbox-relay")

    async def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._publisher.close()
        self._metrics.relay_connection(connected=False)
        await self._lease.release()
        self._metrics.relay_lease(held=False)

    async def run(self) -> None:
        backoff = self._backoff_initial
        while not self._stop.is_set():
            try:
                if not self._publisher.connected:
                    await self._publisher.connect()
                    self._metrics.relay_connection(connected=True)
                    log.info("outbox relay connected to the broker")
                # Connected before the lease is asked for: a standby is ready to take over,
                # and its readiness says whether it could.
                leading = await self._lease.acquire()
                self._metrics.relay_lease(held=leading)
                if leading:
                    await self._drain()
                backoff = self._backoff_initial
            except Exception as error:
                self._metrics.relay_connection(connected=False)
                log.warning("outbox relay: %s; retrying in %.1f s", _describe(error), backoff)
                await self._publisher.close()
                await self._lease.release()
                self._metrics.relay_lease(held=False)
                await self._sleep(backoff)
                backoff = min(backoff * 2, self._backoff_max)
                continue
            if leading:
                await self._wait_for_work()
            else:
                await self._sleep(self._sweep_interval)

    async def run_once(self) -> int:
        """Publish what is pending now, lease or not (tests and the benchmark); returns how
        many went out."""
        if not self._publisher.connected:
            await self._publisher.connect()
        return await self._drain()

    async def _drain(self) -> int:
        total = 0
        while not self._stop.is_set():
            # Cleared before reading: a commit from now on sets it again and is not missed.
            self._wake.clear()
            sent = await self._store.publish_pending(self._publish, self._batch_size)
            total += sent
            if sent < self._batch_size:
                break
        return total

    async def _publish(self, message: OutboxMessage) -> None:
        await self._publisher.publish(message)
        committed = self._committed_at.pop(message.event_id, None)
        if committed is not None:
            delay = time.perf_counter() - committed
        else:
            # Committed by another process (or before a restart): from the outbox write,
            # which happens inside the committing transaction.
            delay = (datetime.now(UTC) - message.created_at).total_seconds()
        self._metrics.confirmed(message.event_type, max(delay, 0.0))

    async def _wait_for_work(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self._sweep_interval)

    async def _sleep(self, seconds: float) -> None:
        # Not woken by commits (the broker is down, or another replica publishes them): only
        # stop ends it early.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}" if text != type(error).__name__ else text

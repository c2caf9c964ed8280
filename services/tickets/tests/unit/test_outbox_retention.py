"""The outbox retention over fakes: the cutoff follows the clock, batches repeat until a
short one, the count reaches the metrics, and the timer survives a failing database."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from incident_tickets.service.outbox_retention import OutboxRetention
from incident_tickets.service.ports import OutboxMessage
from incident_tickets.testing import FixedClock, InMemoryOutboxStore, RecordingMetrics


class ScriptedPruner:
    def __init__(self, answers: list[int | Exception]) -> None:
        self.answers = answers
        self.calls: list[tuple[datetime, int]] = []

    async def prune_sent(self, sent_before: datetime, limit: int) -> int:
        self.calls.append((sent_before, limit))
        answer = self.answers.pop(0) if self.answers else 0
        if isinstance(answer, Exception):
            raise answer
        return answer


async def test_rows_sent_before_the_retention_are_deleted_and_others_kept() -> None:
    store, metrics, clock = InMemoryOutboxStore(), RecordingMetrics(), FixedClock()
    for _ in range(3):
        store.add("ticket.created")

    async def ok(message: OutboxMessage) -> None: ...

    await store.publish_pending(ok, limit=2)  # rows 1 and 2 sent, 3 unsent
    store.sent_at[1] = clock() - timedelta(hours=169)
    store.sent_at[2] = clock() - timedelta(hours=167)
    retention = OutboxRetention(store, metrics, clock, retention=timedelta(hours=168))
    assert await retention.prune_once() == 1
    assert [row.id for row in store.rows] == [2, 3]
    assert metrics.pruned == [1]
    clock.advance(3600 * 2)  # row 2 is now past the retention too; row 3 is still unsent
    assert await retention.prune_once() == 1
    assert [row.id for row in store.rows] == [3]
    assert await store.pending() == 1


async def test_full_batches_repeat_with_one_cutoff_until_a_short_one() -> None:
    pruner, metrics, clock = ScriptedPruner([10, 10, 3, 10]), RecordingMetrics(), FixedClock()
    retention = OutboxRetention(pruner, metrics, clock, retention=timedelta(hours=1), batch_size=10)
    assert await retention.prune_once() == 23
    assert pruner.calls == [(clock() - timedelta(hours=1), 10)] * 3
    assert metrics.pruned == [10, 10, 3]


async def test_nothing_to_prune_records_nothing() -> None:
    pruner, metrics = ScriptedPruner([]), RecordingMetrics()
    retention = OutboxRetention(pruner, metrics, FixedClock(), retention=timedelta(hours=1))
    assert await retention.prune_once() == 0
    assert metrics.pruned == []


async def test_the_timer_runs_soon_after_start_again_after_a_failure_and_stops() -> None:
    pruner = ScriptedPruner([ConnectionError("database away"), 2])
    metrics = RecordingMetrics()
    retention = OutboxRetention(
        pruner,
        metrics,
        FixedClock(),
        retention=timedelta(hours=1),
        interval=0.01,
        first_delay=0.01,
    )
    retention.start()
    try:
        for _ in range(500):
            if metrics.pruned:
                break
            await asyncio.sleep(0.01)
    finally:
        await retention.stop()
    assert metrics.pruned == [2]
    assert len(pruner.calls) >= 2

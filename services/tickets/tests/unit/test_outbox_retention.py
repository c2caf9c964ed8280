"""The outbox retention's wiring over the in-memory outbox: it prunes the rows sent before the
retention, never an unsent one, and counts them in the outbox metric. The timer itself (batches,
schedule, failures) is tested in libs/runtime."""

from __future__ import annotations

from datetime import timedelta

from incident_tickets.service.outbox_retention import outbox_retention
from incident_tickets.service.ports import OutboxMessage
from incident_tickets.testing import FixedClock, InMemoryOutboxStore, RecordingMetrics


async def test_rows_sent_before_the_retention_are_deleted_and_others_kept() -> None:
    store, metrics, clock = InMemoryOutboxStore(), RecordingMetrics(), FixedClock()
    for _ in range(3):
        store.add("ticket.created")

    async def ok(message: OutboxMessage) -> None: ...

    await store.publish_pending(ok, limit=2)  # rows 1 and 2 sent, 3 unsent
    store.sent_at[1] = clock() - timedelta(hours=169)
    store.sent_at[2] = clock() - timedelta(hours=167)
    retention = outbox_retention(store, metrics, clock, retention=timedelta(hours=168))
    assert await retention.prune_once() == 1
    assert [row.id for row in store.rows] == [2, 3]
    assert metrics.pruned == [1]
    clock.advance(3600 * 2)  # row 2 is now past the retention too; row 3 is still unsent
    assert await retention.prune_once() == 1
    assert [row.id for row in store.rows] == [3]
    assert await store.pending() == 1

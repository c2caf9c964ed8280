"""Retention of the idempotency claims: its statement on SQLite and, when ``DATABASE_URL``
names a PostgreSQL server, on a fresh database of it (old claims go oldest first, newer ones
and every record stay), and its wiring to the store and the metric. The timer itself
(batches, schedule, failures) is tested in libs/runtime."""

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from incident_notifier.adapters.sql_notifications import SqlNotificationStore
from incident_notifier.adapters.sql_schema import notifications, processed_events
from incident_notifier.domain.content import NotificationContent
from incident_notifier.domain.tickets import ChangeKind
from incident_notifier.service.claims_retention import claims_retention
from incident_notifier.service.ports import RecordRequest

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


class Counted:
    def __init__(self) -> None:
        self.pruned: list[int] = []

    def claims_pruned(self, rows: int) -> None:
        self.pruned.append(rows)


async def _claims(engine: AsyncEngine, ages: list[timedelta]) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in ages]
    async with engine.begin() as conn:
        await conn.execute(
            insert(processed_events),
            [
                {"event_id": event_id, "event_type": "ticket.opened", "processed_at": NOW - age}
                for event_id, age in zip(ids, ages, strict=True)
            ],
        )
    return ids


async def _left(engine: AsyncEngine) -> set[uuid.UUID]:
    async with engine.connect() as conn:
        return set((await conn.execute(select(processed_events.c.event_id))).scalars())


async def test_claims_older_than_the_cutoff_go_oldest_first_and_records_stay(
    engine: AsyncEngine,
) -> None:
    store = SqlNotificationStore(engine)
    content = NotificationContent(ChangeKind.TICKET_OPENED, "m", {"id": 1, "title": "T"}, NOW)
    recent = uuid.uuid4()
    # Claimed now (after NOW), with its records.
    [records] = await store.record_many([RecordRequest(recent, "ticket.opened", [1], content)])
    assert records is not None
    _oldest, old, kept = await _claims(engine, [30 * DAY, 9 * DAY, 6 * DAY])
    cutoff = NOW - 7 * DAY
    assert await store.prune_claims(cutoff, limit=1) == 1
    assert await _left(engine) == {old, kept, recent}  # the oldest went first
    assert await store.prune_claims(cutoff, limit=1000) == 1
    assert await _left(engine) == {kept, recent}
    assert await store.prune_claims(cutoff, limit=1000) == 0
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(notifications)) == 1
    # A kept claim still makes a redelivery a duplicate.
    again = await store.record_many([RecordRequest(recent, "ticket.opened", [1], content)])
    assert again == [None]


async def test_the_timer_prunes_the_stores_old_claims_and_counts_them(
    engine: AsyncEngine,
) -> None:
    ids = await _claims(engine, [40 * DAY, 8 * DAY, 6 * DAY])
    metrics = Counted()
    retention = claims_retention(
        SqlNotificationStore(engine), metrics, lambda: NOW, retention=7 * DAY
    )
    assert await retention.prune_once() == 2
    assert await _left(engine) == {ids[2]}
    assert metrics.pruned == [2]

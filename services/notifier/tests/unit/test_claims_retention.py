"""Retention of the idempotency claims: over fakes (cutoff, batches, metrics, the timer),
and its statement on SQLite and, when ``DATABASE_URL`` names a PostgreSQL server, on a fresh
database of it: old claims go oldest first, newer ones and every record stay."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from incident_notifier.adapters.sql_notifications import SqlNotificationStore
from incident_notifier.adapters.sql_schema import notifications, processed_events
from incident_notifier.domain.content import NotificationContent
from incident_notifier.domain.tickets import ChangeKind
from incident_notifier.service.claims_retention import ClaimsRetention
from incident_notifier.service.ports import RecordRequest

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


class ScriptedPruner:
    def __init__(self, answers: list[int | Exception]) -> None:
        self.answers = answers
        self.calls: list[tuple[datetime, int]] = []

    async def prune_claims(self, processed_before: datetime, limit: int) -> int:
        self.calls.append((processed_before, limit))
        answer = self.answers.pop(0) if self.answers else 0
        if isinstance(answer, Exception):
            raise answer
        return answer


class Counted:
    def __init__(self) -> None:
        self.pruned: list[int] = []

    def claims_pruned(self, rows: int) -> None:
        self.pruned.append(rows)


async def test_full_batches_repeat_with_one_cutoff_until_a_short_one() -> None:
    pruner, metrics = ScriptedPruner([5, 5, 1, 5]), Counted()
    retention = ClaimsRetention(pruner, metrics, lambda: NOW, retention=7 * DAY, batch_size=5)
    assert await retention.prune_once() == 11
    assert pruner.calls == [(NOW - 7 * DAY, 5)] * 3
    assert metrics.pruned == [5, 5, 1]


async def test_nothing_to_prune_records_nothing() -> None:
    metrics = Counted()
    retention = ClaimsRetention(ScriptedPruner([]), metrics, lambda: NOW, retention=DAY)
    assert await retention.prune_once() == 0
    assert metrics.pruned == []


async def test_the_timer_runs_soon_after_start_again_after_a_failure_and_stops() -> None:
    pruner, metrics = ScriptedPruner([ConnectionError("database away"), 3]), Counted()
    retention = ClaimsRetention(
        pruner, metrics, lambda: NOW, retention=DAY, interval=0.01, first_delay=0.01
    )
    retention.start()
    try:
        for _ in range(500):
            if metrics.pruned:
                break
            await asyncio.sleep(0.01)
    finally:
        await retention.stop()
    assert metrics.pruned == [3]
    assert len(pruner.calls) >= 2


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

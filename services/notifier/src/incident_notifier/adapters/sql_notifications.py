"""Notification records in PostgreSQL or SQLite, with Core SQL on the hot path."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Row, bindparam, delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from incident_contracts.timestamps import utc_now
from incident_notifier.adapters import pg_batch
from incident_notifier.adapters.sql_directory import read_audience
from incident_notifier.adapters.sql_engine import aware, guarded, insert_for
from incident_notifier.adapters.sql_schema import notifications, processed_events, user_seq
from incident_notifier.domain.content import NotificationContent
from incident_notifier.domain.records import NotificationRecord
from incident_notifier.domain.tickets import ChangeKind
from incident_notifier.service.ports import Audience, RecordRequest

_COLUMNS = (
    notifications.c.id,
    notifications.c.user_id,
    notifications.c.seq,
    notifications.c.notification_type,
    notifications.c.message,
    notifications.c.ticket,
    notifications.c.timestamp,
    notifications.c.is_read,
    notifications.c.read_at,
)


# Oldest first along the index on processed_at. Claims another replica is deleting are
# skipped, not waited for (PostgreSQL; SQLite has one writer at a time anyway).
_PRUNABLE_CLAIMS = (
    select(processed_events.c.event_id)
    .where(processed_events.c.processed_at < bindparam("before"))
    .order_by(processed_events.c.processed_at)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_PRUNE_CLAIMS = delete(processed_events).where(
    processed_events.c.event_id.in_(_PRUNABLE_CLAIMS.scalar_subquery())
)


def _by_id(request: RecordRequest) -> str:
    return str(request.event_id)


def _row(record: NotificationRecord, request: RecordRequest, now: datetime) -> dict[str, Any]:
    content = request.content
    return {
        "id": record.id,
        "user_id": record.user_id,
        "seq": record.seq,
        "event_id": request.event_id,
        "notification_type": content.notification_type.value,
        "message": content.message,
        "ticket": content.ticket,
        "timestamp": content.timestamp.astimezone(UTC),
        "created_at": now,
        "is_read": False,
    }


def _record(row: Row[Any]) -> NotificationRecord:
    timestamp = aware(row.timestamp)
    assert timestamp is not None
    return NotificationRecord(
        id=row.id,
        user_id=row.user_id,
        seq=row.seq,
        content=NotificationContent(
            notification_type=ChangeKind(row.notification_type),
            message=row.message,
            ticket=row.ticket,
            timestamp=timestamp,
        ),
        is_read=row.is_read,
        read_at=aware(row.read_at),
    )


class SqlNotificationStore:
    """Also the unit of work of a batch of ticket events (``AudienceAndRecords``): the
    directory lives in the same database."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._postgresql = engine.dialect.name == "postgresql"

    async def record_many(
        self, requests: Sequence[RecordRequest]
    ) -> list[list[NotificationRecord] | None]:
        if self._postgresql:

            async def write_pg() -> list[list[NotificationRecord] | None]:
                async with self._autocommit() as conn:
                    return await pg_batch.write(conn, requests, utc_now())

            return await guarded(write_pg)

        async def write() -> list[list[NotificationRecord] | None]:
            async with self._engine.begin() as conn:
                return await self._write(conn, requests)

        return await guarded(write)

    async def record_for(
        self,
        candidate_ids: Collection[int],
        requests_for: Callable[[Audience], Sequence[RecordRequest]],
    ) -> list[list[NotificationRecord] | None]:
        if self._postgresql:
            # The read and the one write statement on one connection; the write is its
            # own transaction, as atomic as BEGIN .. COMMIT around it, two round trips less.
            async def write_pg() -> list[list[NotificationRecord] | None]:
                async with self._autocommit() as conn:
                    audience = await pg_batch.read_audience(conn, candidate_ids)
                    return await pg_batch.write(conn, requests_for(audience), utc_now())

            return await guarded(write_pg)

        async def write() -> list[list[NotificationRecord] | None]:
            async with self._engine.begin() as conn:
                audience = await read_audience(conn, candidate_ids)
                return await self._write(conn, requests_for(audience))

        return await guarded(write)

    async def prune_claims(self, processed_before: datetime, limit: int) -> int:
        async def prune() -> int:
            async with self._engine.begin() as conn:
                result = await conn.execute(
                    _PRUNE_CLAIMS, {"before": processed_before, "limit": limit}
                )
                return int(result.rowcount or 0)

        return await guarded(prune)

    @asynccontextmanager
    async def _autocommit(self) -> AsyncIterator[AsyncConnection]:
        async with self._engine.connect() as conn:
            yield await conn.execution_options(isolation_level="AUTOCOMMIT")

    async def _write(
        self, conn: AsyncConnection, requests: Sequence[RecordRequest]
    ) -> list[list[NotificationRecord] | None]:
        if not requests:
            return []
        now = utc_now()
        # Claim the events first: a second replica with one of them blocks here on the
        # primary key until this transaction ends, then sees the conflict and skips it.
        # Ids in sorted order, so two replicas claiming overlapping batches cannot deadlock.
        wanted = sorted({request.event_id: request for request in requests}.values(), key=_by_id)
        claim = (
            insert_for(self._engine, processed_events)
            .values(
                [
                    {"event_id": r.event_id, "event_type": r.event_type, "processed_at": now}
                    for r in wanted
                ]
            )
            .on_conflict_do_nothing(index_elements=["event_id"])
            .returning(processed_events.c.event_id)
        )
        claimed = {row.event_id for row in await conn.execute(claim)}
        # A repeat of an event id within the batch is a duplicate like any other.
        fresh = [False] * len(requests)
        for index, request in enumerate(requests):
            if request.event_id in claimed:
                fresh[index] = True
                claimed.discard(request.event_id)
        counts = Counter(
            user
            for index, request in enumerate(requests)
            if fresh[index]
            for user in set(request.recipient_ids)
        )
        last = await self._bump(conn, counts) if counts else {}
        # Hand out each user's new numbers in the order of the requests.
        next_seq = {user: last[user] - count + 1 for user, count in counts.items()}
        written: list[list[NotificationRecord] | None] = []
        rows: list[dict[str, Any]] = []
        for index, request in enumerate(requests):
            if not fresh[index]:
                written.append(None)
                continue
            records = []
            for user_id in sorted(set(request.recipient_ids)):
                seq = next_seq[user_id]
                next_seq[user_id] = seq + 1
                record = NotificationRecord(uuid.uuid4(), user_id, seq, request.content)
                records.append(record)
                rows.append(_row(record, request, now))
            written.append(records)
        if rows:
            await conn.execute(notifications.insert(), rows)
        return written

    async def _bump(self, conn: AsyncConnection, counts: Counter[int]) -> dict[int, int]:
        """Add each user's count to their counter; returns the new last seq per user.

        One statement for every user; rows are locked in ascending id order (the VALUES
        order), so writers with overlapping recipients cannot deadlock. The locks are held
        until commit, which is what keeps seq free of gaps and repeats across replicas.
        """
        upsert = insert_for(self._engine, user_seq).values(
            [{"user_id": user, "last_seq": counts[user]} for user in sorted(counts)]
        )
        bump = upsert.on_conflict_do_update(
            index_elements=["user_id"],
            set_={"last_seq": user_seq.c.last_seq + upsert.excluded.last_seq},
        ).returning(user_seq.c.user_id, user_seq.c.last_seq)
        return {row.user_id: row.last_seq for row in await conn.execute(bump)}

    async def page(
        self, user_id: int, *, before_seq: int | None, unread_only: bool, limit: int
    ) -> list[NotificationRecord]:
        query = select(*_COLUMNS).where(notifications.c.user_id == user_id)
        if before_seq is not None:
            query = query.where(notifications.c.seq < before_seq)
        if unread_only:
            query = query.where(notifications.c.is_read.is_(False))
        query = query.order_by(notifications.c.seq.desc()).limit(limit)
        return await self._rows(query)

    async def after_seq(self, user_id: int, after_seq: int, limit: int) -> list[NotificationRecord]:
        query = (
            select(*_COLUMNS)
            .where(notifications.c.user_id == user_id, notifications.c.seq > after_seq)
            .order_by(notifications.c.seq.asc())
            .limit(limit)
        )
        return await self._rows(query)

    async def _rows(self, query: Any) -> list[NotificationRecord]:
        async def read() -> list[NotificationRecord]:
            async with self._engine.connect() as conn:
                return [_record(row) for row in await conn.execute(query)]

        return await guarded(read)

    async def unread_count(self, user_id: int) -> int:
        query = select(func.count()).where(
            notifications.c.user_id == user_id, notifications.c.is_read.is_(False)
        )

        async def count() -> int:
            async with self._engine.connect() as conn:
                return int((await conn.execute(query)).scalar_one())

        return await guarded(count)

    async def mark_read(self, user_id: int, notification_id: UUID, at: datetime) -> bool:
        # Marking twice is not an error, and keeps the first read_at.
        statement = (
            update(notifications)
            .where(notifications.c.id == notification_id, notifications.c.user_id == user_id)
            .values(is_read=True, read_at=func.coalesce(notifications.c.read_at, at))
        )
        return await self._update(statement) == 1

    async def mark_all_read(self, user_id: int, at: datetime) -> int:
        statement = (
            update(notifications)
            .where(notifications.c.user_id == user_id, notifications.c.is_read.is_(False))
            .values(is_read=True, read_at=at)
        )
        return await self._update(statement)

    async def _update(self, statement: Any) -> int:
        async def run() -> int:
            async with self._engine.begin() as conn:
                return int((await conn.execute(statement)).rowcount)

        return await guarded(run)

    async def ping(self) -> None:
        async def select_one() -> None:
            async with self._engine.connect() as conn:
                await conn.execute(text("SELECT 1"))

        await guarded(select_one)

"""Notification records in PostgreSQL or SQLite, with Core SQL on the hot path."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Row, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from incident_contracts.timestamps import utc_now
from incident_notifier.adapters.sql_engine import aware, guarded, insert_for
from incident_notifier.adapters.sql_schema import notifications, processed_events, user_seq
from incident_notifier.domain.content import NotificationContent
from incident_notifier.domain.records import NotificationRecord
from incident_notifier.domain.tickets import ChangeKind

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
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def record(
        self,
        event_id: UUID,
        event_type: str,
        recipient_ids: Sequence[int],
        content: NotificationContent,
    ) -> list[NotificationRecord] | None:
        async def write() -> list[NotificationRecord] | None:
            async with self._engine.begin() as conn:
                return await self._write(conn, event_id, event_type, recipient_ids, content)

        return await guarded(write)

    async def _write(
        self,
        conn: AsyncConnection,
        event_id: UUID,
        event_type: str,
        recipient_ids: Sequence[int],
        content: NotificationContent,
    ) -> list[NotificationRecord] | None:
        now = utc_now()
        # Claim the event first: a second replica with the same event blocks here on the
        # primary key until this transaction ends, then sees the conflict and writes nothing.
        claim = (
            insert_for(self._engine, processed_events)
            .values(event_id=event_id, event_type=event_type, processed_at=now)
            .on_conflict_do_nothing(index_elements=["event_id"])
            .returning(processed_events.c.event_id)
        )
        if (await conn.execute(claim)).first() is None:
            return None
        users = sorted(set(recipient_ids))
        if not users:
            return []
        # One statement bumps every recipient's counter; rows are locked in ascending id
        # order (the VALUES order), so writers with overlapping recipients cannot deadlock.
        upsert = insert_for(self._engine, user_seq).values(
            [{"user_id": user_id, "last_seq": 1} for user_id in users]
        )
        bump = upsert.on_conflict_do_update(
            index_elements=["user_id"], set_={"last_seq": user_seq.c.last_seq + 1}
        ).returning(user_seq.c.user_id, user_seq.c.last_seq)
        seqs = {row.user_id: row.last_seq for row in await conn.execute(bump)}
        records = [
            NotificationRecord(id=uuid.uuid4(), user_id=user_id, seq=seqs[user_id], content=content)
            for user_id in users
        ]
        await conn.execute(
            notifications.insert(),
            [
                {
                    "id": record.id,
                    "user_id": record.user_id,
                    "seq": record.seq,
                    "event_id": event_id,
                    "notification_type": content.notification_type.value,
                    "message": content.message,
                    "ticket": content.ticket,
                    "timestamp": content.timestamp.astimezone(UTC),
                    "created_at": now,
                    "is_read": False,
                }
                for record in records
            ],
        )
        return records

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

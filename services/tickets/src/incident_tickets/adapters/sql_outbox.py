"""The relay's side of the outbox table: claim the oldest unsent rows, mark them sent, and
delete sent rows past their retention.

On PostgreSQL the rows are taken with ``FOR UPDATE SKIP LOCKED``, so two relays (two replicas
of the service) never publish the same row. To keep commit order across replicas as well, a
relay only publishes when it holds the oldest unsent row; otherwise another relay is busy with
earlier rows and this one leaves them to it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import Integer, bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from incident_tickets.adapters.sql_repositories import as_utc
from incident_tickets.adapters.sql_tables import OUTBOX
from incident_tickets.service.ports import OutboxMessage, PublishFn

_UNSENT = OUTBOX.c.sent_at.is_(None)
# One round trip: the claimable rows, and the oldest unsent id (locked or not).
# (Not correlated: the minimum over the whole table, not over the outer row.)
_OLDEST = select(func.min(OUTBOX.c.id)).where(_UNSENT).correlate(None).scalar_subquery()
_CLAIM = (
    select(OUTBOX, _OLDEST.label("oldest"))
    .where(_UNSENT)
    .order_by(OUTBOX.c.id)
    .limit(bindparam("limit", type_=Integer))
    .with_for_update(skip_locked=True, of=OUTBOX)
)
_MARK_SENT = (
    update(OUTBOX)
    .where(OUTBOX.c.id.in_(bindparam("ids", expanding=True)))
    .values(sent_at=bindparam("sent_at"))
)
"""Both built once: constructing them on each call was a sixth of the relay's CPU."""
# Oldest first along the partial index on sent_at (ordering by id would walk every row
# kept, sent within the retention, on each run). Rows another pruner holds are skipped,
# not waited for: it deletes them.
_PRUNABLE = (
    select(OUTBOX.c.id)
    .where(OUTBOX.c.sent_at.is_not(None))
    .where(OUTBOX.c.sent_at < bindparam("before"))
    .order_by(OUTBOX.c.sent_at)
    .limit(bindparam("limit", type_=Integer))
    .with_for_update(skip_locked=True)
)
_PRUNE = delete(OUTBOX).where(OUTBOX.c.id.in_(_PRUNABLE.scalar_subquery()))


class SqlOutboxStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def publish_pending(self, publish: PublishFn, limit: int) -> int:
        sent: list[int] = []
        failure: BaseException | None = None
        async with self._engine.begin() as connection:
            claimed = (await connection.execute(_CLAIM, {"limit": limit})).all()
            if not claimed:
                return 0
            if claimed[0].oldest != claimed[0].id:
                return 0  # another relay holds older rows; publishing now would reorder
            messages = [
                OutboxMessage(
                    id=row.id,
                    event_id=row.event_id,
                    event_type=row.event_type,
                    body=row.body,
                    created_at=as_utc(row.created_at),
                )
                for row in claimed
            ]
            # Pipelined: every message is written to the channel in id order at once and the
            # confirms are awaited together (the channel keeps the order; waiting for each
            # confirm in turn would make the relay as slow as a round trip per event).
            results = await asyncio.gather(
                *(publish(message) for message in messages), return_exceptions=True
            )
            for message, result in zip(messages, results, strict=True):
                if isinstance(result, BaseException):
                    # Only the confirmed prefix counts as sent: rows after a failure go out
                    # again after it, never ahead of it (at least once, in order).
                    failure = result
                    break
                sent.append(message.id)
            # Recorded even when a later publish failed: confirmed rows must not go out twice.
            if sent:
                await connection.execute(_MARK_SENT, {"ids": sent, "sent_at": datetime.now(UTC)})
        if failure is not None:
            raise failure
        return len(sent)

    async def prune_sent(self, sent_before: datetime, limit: int) -> int:
        async with self._engine.begin() as connection:
            result = await connection.execute(_PRUNE, {"before": sent_before, "limit": limit})
            return int(result.rowcount or 0)

    async def pending(self) -> int:
        async with self._engine.connect() as connection:
            count = await connection.scalar(select(func.count()).select_from(OUTBOX).where(_UNSENT))
            return int(count or 0)

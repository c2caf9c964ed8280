"""A batch of ticket events on PostgreSQL in two statements of a fixed shape.

The general path (``sql_notifications``) builds its INSERTs per batch: a new statement for
each batch size, compiled by SQLAlchemy every time, and three round trips inside BEGIN ..
COMMIT. Here every value travels as an array (``unnest``), so each statement's text never
changes: the driver prepares it once per connection and SQLAlchemy compiles nothing. The
claim, the seq bump and the records are ONE statement, hence one transaction of its own
(all or nothing) without BEGIN or COMMIT, run on an autocommit connection.

What the statement guarantees is what ``SqlNotificationStore._write`` does, step by step:
events are claimed in the given (sorted) order, and a claimed event blocks a second
replica on its primary key until this statement commits; only the events it claimed count;
the ``user_seq`` rows are locked in ascending user id order and held until commit, so seq
has neither gaps nor repeats across replicas; each user's new numbers go to the records in
the order given (request order, then ascending user id).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from incident_notifier.domain.records import NotificationRecord
from incident_notifier.domain.users import ADMIN_ROLE
from incident_notifier.service.ports import Audience, RecordRequest

AUDIENCE = f"""
SELECT id, role = '{ADMIN_ROLE}' AS is_admin, is_active FROM directory_users
WHERE role = '{ADMIN_ROLE}' OR (id = ANY($1::bigint[]) AND NOT is_active)
ORDER BY id
"""

WRITE = """
WITH claimed AS (
    INSERT INTO processed_events (event_id, event_type, processed_at)
    SELECT e.event_id, e.event_type, $3::timestamptz
    FROM unnest($1::uuid[], $2::text[]) WITH ORDINALITY AS e(event_id, event_type, n)
    ORDER BY e.n
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
),
fresh AS (
    SELECT p.*
    FROM unnest(
        $4::uuid[], $5::bigint[], $6::uuid[], $7::text[], $8::text[], $9::text[],
        $10::timestamptz[]
    ) WITH ORDINALITY
        AS p(event_id, user_id, id, notification_type, message, ticket, "timestamp", n)
    WHERE p.event_id IN (SELECT event_id FROM claimed)
),
bumped AS (
    INSERT INTO user_seq (user_id, last_seq)
    SELECT user_id, count(*) FROM fresh GROUP BY user_id ORDER BY user_id
    ON CONFLICT (user_id) DO UPDATE SET last_seq = user_seq.last_seq + excluded.last_seq
    RETURNING user_id, last_seq
),
numbered AS (
    SELECT f.*, b.last_seq - count(*) OVER w + row_number() OVER (w ORDER BY f.n) AS seq
    FROM fresh AS f JOIN bumped AS b ON b.user_id = f.user_id
    WINDOW w AS (PARTITION BY f.user_id)
),
written AS (
    INSERT INTO notifications (
        id, user_id, seq, event_id, notification_type, message, ticket, "timestamp",
        created_at, is_read
    )
    SELECT id, user_id, seq, event_id, notification_type, message, ticket::json,
        "timestamp", $3::timestamptz, false
    FROM numbered
)
SELECT event_id, id, seq FROM numbered
UNION ALL
SELECT event_id, NULL, NULL FROM claimed
"""


async def read_audience(conn: AsyncConnection, candidate_ids: Collection[int]) -> Audience:
    """``sql_directory.read_audience`` as driver SQL: measured 0.2-0.4 ms of consumer CPU per
    event less at 100 events/s (bench/notifier_throughput.py --only paced) than the Core query."""
    rows = await conn.exec_driver_sql(AUDIENCE, (list(candidate_ids),))
    admins: list[int] = []
    inactive: set[int] = set()
    for user_id, is_admin, is_active in map(tuple, rows):
        if is_admin and is_active:
            admins.append(user_id)
        if not is_active and user_id in candidate_ids:
            inactive.add(user_id)
    return Audience(admins, inactive)


async def write(
    conn: AsyncConnection, requests: Sequence[RecordRequest], now: datetime
) -> list[list[NotificationRecord] | None]:
    """``NotificationStore.record_many`` in one statement (see the module's docstring)."""
    if not requests:
        return []
    # A repeat of an event id within the batch is a duplicate like any other: only the
    # first request of an id may write.
    first: dict[UUID, int] = {}
    for index, request in enumerate(requests):
        first.setdefault(request.event_id, index)
    # Ids in sorted order, so two replicas claiming overlapping batches cannot deadlock.
    claims = sorted(first, key=str)
    pairs: list[tuple[int, int, UUID]] = [
        (index, user_id, uuid.uuid4())
        for index in sorted(first.values())
        for user_id in sorted(set(requests[index].recipient_ids))
    ]
    contents = [requests[index].content for index, _user, _id in pairs]
    rows = await conn.exec_driver_sql(
        WRITE,
        (
            claims,
            [requests[first[event_id]].event_type for event_id in claims],
            now,
            [requests[index].event_id for index, _user, _id in pairs],
            [user_id for _index, user_id, _id in pairs],
            [record_id for _index, _user, record_id in pairs],
            [content.notification_type.value for content in contents],
            [content.message for content in contents],
            [json.dumps(content.ticket) for content in contents],
            [content.timestamp.astimezone(UTC) for content in contents],
        ),
    )
    claimed: set[UUID] = set()
    seqs: dict[UUID, int] = {}
    for event_id, record_id, seq in map(tuple, rows):
        if record_id is None:
            claimed.add(event_id)
        else:
            seqs[record_id] = seq
    written: list[list[NotificationRecord] | None] = [None] * len(requests)
    for index in first.values():
        if requests[index].event_id in claimed:
            written[index] = []
    for index, user_id, record_id in pairs:
        records = written[index]
        if records is not None:
            records.append(
                NotificationRecord(record_id, user_id, seqs[record_id], requests[index].content)
            )
    return written

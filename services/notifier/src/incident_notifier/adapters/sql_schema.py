"""The notifier's tables (SQLAlchemy Core; the Alembic migrations create the same).

- ``notifications``: one row per (event, recipient); UNIQUE (user_id, seq) and
  UNIQUE (event_id, user_id) make a duplicate impossible whatever the code above does.
- ``processed_events``: the idempotency key. Claimed with ON CONFLICT DO NOTHING in the same
  transaction as the records: no row inserted means the event was already handled. Kept
  for a retention period (far beyond any redelivery), then deleted oldest first.
- ``user_seq``: the last seq given to each user, bumped with an upsert whose row lock
  serialises concurrent writers until commit (a rollback gives the number back).
- ``directory_users``: the users and roles, from ``user.*`` events and the export.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    false,
)

metadata = MetaData()

notifications = Table(
    "notifications",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("user_id", BigInteger, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("event_id", Uuid, nullable=False),
    Column("notification_type", String(32), nullable=False),
    Column("message", Text, nullable=False),
    Column("ticket", JSON, nullable=False),
    Column("timestamp", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("is_read", Boolean, nullable=False, server_default=false()),
    Column("read_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("user_id", "seq", name="uq_notifications_user_seq"),
    UniqueConstraint("event_id", "user_id", name="uq_notifications_event_user"),
    # The unread count and ?unread=true read only this small part of a user's rows.
    Index(
        "ix_notifications_user_unread",
        "user_id",
        "seq",
        postgresql_where="NOT is_read",
        sqlite_where="is_read = 0",
    ),
)

processed_events = Table(
    "processed_events",
    metadata,
    Column("event_id", Uuid, primary_key=True),
    Column("event_type", String(64), nullable=False),
    Column("processed_at", DateTime(timezone=True), nullable=False),
    # The retention deletes the oldest claims first.
    Index("ix_processed_events_processed_at", "processed_at"),
)

user_seq = Table(
    "user_seq",
    metadata,
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("last_seq", BigInteger, nullable=False),
)

directory_users = Table(
    "directory_users",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("username", String(150), nullable=False),
    Column("full_name", String(300), nullable=False),
    Column("role", String(16), nullable=False),
    Column("is_active", Boolean, nullable=False),
    Column("as_of", DateTime(timezone=True), nullable=False),
)

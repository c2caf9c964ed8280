"""The tables, as SQLModel rows. Rows are storage only; the rules live in ``domain``.

The Alembic migrations under ``services/tickets/migrations`` create exactly these tables.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, Integer, Table, Text, text
from sqlmodel import Field, SQLModel

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
_BIG_ID = BigInteger().with_variant(Integer(), "sqlite")
_UTC = DateTime(timezone=True)


class UserRow(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=150, unique=True)
    full_name: str = Field(max_length=200)
    role: str = Field(max_length=16, index=True)
    password_hash: str = Field(max_length=255)
    is_active: bool = True
    created_at: datetime = Field(sa_type=_UTC)


class ProjectRow(SQLModel, table=True):
    __tablename__ = "projects"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    created_at: datetime = Field(sa_type=_UTC)


class TicketRow(SQLModel, table=True):
    __tablename__ = "tickets"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=255)
    description: str
    priority: str = Field(max_length=16)
    category: str = Field(max_length=16)
    status: str = Field(max_length=16)
    project_id: int = Field(foreign_key="projects.id", index=True)
    created_by_id: int = Field(foreign_key="users.id", index=True)
    created_at: datetime = Field(sa_type=_UTC)
    updated_at: datetime = Field(sa_type=_UTC)
    opened_at: datetime | None = Field(default=None, sa_type=_UTC)
    started_at: datetime | None = Field(default=None, sa_type=_UTC)
    resolved_at: datetime | None = Field(default=None, sa_type=_UTC)
    closed_at: datetime | None = Field(default=None, sa_type=_UTC)
    resolution_due_at: datetime | None = Field(default=None, sa_type=_UTC)
    rejection_comment: str | None = None


class TicketAssigneeRow(SQLModel, table=True):
    __tablename__ = "ticket_assignees"

    ticket_id: int = Field(foreign_key="tickets.id", primary_key=True)
    user_id: int = Field(foreign_key="users.id", primary_key=True, index=True)
    position: int
    """Assignment order, so names are listed in the order developers were assigned."""


class RefreshTokenRow(SQLModel, table=True):
    __tablename__ = "refresh_tokens"

    jti: str = Field(primary_key=True, max_length=64)
    family: str = Field(max_length=64, index=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    issued_at: datetime = Field(sa_type=_UTC)
    expires_at: datetime = Field(sa_type=_UTC)
    used_at: datetime | None = Field(default=None, sa_type=_UTC)
    revoked_at: datetime | None = Field(default=None, sa_type=_UTC)


class OutboxRow(SQLModel, table=True):
    """One event waiting for (or done with) the relay; ``sent_at`` is set after the confirm."""

    __tablename__ = "outbox"
    __table_args__ = (
        # The relay's only query: the oldest unsent rows. A partial index keeps it small.
        Index(
            "ix_outbox_unsent",
            "id",
            postgresql_where=text("sent_at IS NULL"),
            sqlite_where=text("sent_at IS NULL"),
        ),
        # Retention deletes the sent rows oldest first; unsent rows stay out of it.
        Index(
            "ix_outbox_sent_at",
            "sent_at",
            postgresql_where=text("sent_at IS NOT NULL"),
            sqlite_where=text("sent_at IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=_BIG_ID)
    event_id: str = Field(max_length=36, unique=True)
    event_type: str = Field(max_length=64)
    body: str = Field(sa_type=Text())  # the migration's type: an event has no length bound
    created_at: datetime = Field(sa_type=_UTC)
    sent_at: datetime | None = Field(default=None, sa_type=_UTC)


OUTBOX: Table = SQLModel.metadata.tables[OutboxRow.__tablename__]
"""The outbox as a Core table: written and claimed on every request's path, without the ORM."""

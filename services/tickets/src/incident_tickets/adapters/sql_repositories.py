"""The repositories of ``service.ports`` over one SQLAlchemy async connection.

Rows are mapped to domain objects and back here. The statements are SQLAlchemy Core over the
tables of ``sql_tables`` (no ORM identity map or unit of work: they are on every request's
path, and the domain objects are the only state). SQLite drops time zones, so every datetime
read back is made UTC again (the service only ever stores UTC).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import SQLModel

from incident_contracts.enums import Role
from incident_tickets.adapters.sql_tables import (
    ProjectRow,
    RefreshTokenRow,
    TicketAssigneeRow,
    TicketRow,
    UserRow,
)
from incident_tickets.domain.errors import UsernameTaken
from incident_tickets.domain.projects import Project
from incident_tickets.domain.users import User
from incident_tickets.service.ports import Names, RefreshTokenRecord

USERS: Table = SQLModel.metadata.tables[UserRow.__tablename__]
PROJECTS: Table = SQLModel.metadata.tables[ProjectRow.__tablename__]
TICKETS: Table = SQLModel.metadata.tables[TicketRow.__tablename__]
ASSIGNEES: Table = SQLModel.metadata.tables[TicketAssigneeRow.__tablename__]
REFRESH_TOKENS: Table = SQLModel.metadata.tables[RefreshTokenRow.__tablename__]

Row = Any
"""A result row of one of these tables: its columns are attributes (``row.title``)."""

# The statements of every request, built once: SQLAlchemy then reuses their cache keys and
# compiled forms instead of rebuilding them per call (a measurable share of each request).
_USER_BY_ID = select(USERS).where(USERS.c.id == bindparam("user_id"))
_USERS_BY_IDS = select(USERS).where(USERS.c.id.in_(bindparam("user_ids", expanding=True)))
_SAVE_USER = (
    update(USERS)
    .where(USERS.c.id == bindparam("u_id"))
    .values(
        full_name=bindparam("u_full_name"),
        role=bindparam("u_role"),
        is_active=bindparam("u_is_active"),
    )
)
_ANNOUNCE = func.pg_notify(bindparam("channel"), bindparam("payload"))
_SAVE_USER_AND_ANNOUNCE = select(_ANNOUNCE).add_cte(_SAVE_USER.cte("saved"))
"""PostgreSQL: the change, and its notification to every process (delivered on commit)."""
_PROJECT_BY_ID = select(PROJECTS).where(PROJECTS.c.id == bindparam("project_id"))
_PROJECTS_BY_IDS = select(PROJECTS).where(
    PROJECTS.c.id.in_(bindparam("project_ids", expanding=True))
)


def maybe_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def as_utc(value: datetime) -> datetime:
    result = maybe_utc(value)
    assert result is not None
    return result


# --- users --------------------------------------------------------------------------
def _user(row: Row) -> User:
    return User(
        id=row.id,
        username=row.username,
        full_name=row.full_name,
        role=Role(row.role),
        password_hash=row.password_hash,
        is_active=row.is_active,
        created_at=maybe_utc(row.created_at),
    )


class SqlUserRepository:
    def __init__(
        self,
        connection: AsyncConnection,
        names: Names | None = None,
        changes_channel: str | None = None,
    ) -> None:
        """``names``: where ``get_many`` records the full names it read (``sql_tickets``).
        ``changes_channel``: PostgreSQL only, where ``save`` announces the user's id, for the
        processes that keep users between requests (``service.active_users``)."""
        self._connection = connection
        self._names = names
        self._changes_channel = changes_channel

    async def add(self, user: User) -> User:
        statement = (
            insert(USERS)
            .values(
                username=user.username,
                full_name=user.full_name,
                role=user.role.value,
                password_hash=user.password_hash,
                is_active=user.is_active,
                created_at=user.created_at or datetime.now(UTC),
            )
            .returning(USERS.c.id)
        )
        try:
            user.id = (await self._connection.execute(statement)).scalar_one()
        except IntegrityError as error:
            raise UsernameTaken(user.username) from error
        return user

    async def get(self, user_id: int) -> User | None:
        row = (await self._connection.execute(_USER_BY_ID, {"user_id": user_id})).first()
        return _user(row) if row else None

    async def get_by_username(self, username: str) -> User | None:
        query = select(USERS).where(USERS.c.username == username)
        row = (await self._connection.execute(query)).first()
        return _user(row) if row else None

    async def get_many(self, user_ids: Sequence[int]) -> dict[int, User]:
        if not user_ids:
            return {}
        rows = await self._connection.execute(_USERS_BY_IDS, {"user_ids": list(user_ids)})
        users = {row.id: _user(row) for row in rows}
        if self._names is not None:
            self._names.users.update((i, user.full_name) for i, user in users.items())
        return users

    async def save(self, user: User) -> None:
        assert user.id is not None, "only a stored user is saved"
        values = {
            "u_id": user.id,
            "u_full_name": user.full_name,
            "u_role": user.role.value,
            "u_is_active": user.is_active,
        }
        if self._changes_channel is None:
            await self._connection.execute(_SAVE_USER, values)
        else:
            announce = {"channel": self._changes_channel, "payload": str(user.id)}
            await self._connection.execute(_SAVE_USER_AND_ANNOUNCE, values | announce)
        if self._names is not None:
            self._names.users[user.id] = user.full_name

    async def newest(self, *, role: Role | None, limit: int, offset: int) -> list[User]:
        query = select(USERS).order_by(USERS.c.id.desc()).limit(limit).offset(offset)
        if role is not None:
            query = query.where(USERS.c.role == role.value)
        return [_user(row) for row in await self._connection.execute(query)]

    async def list_after(self, after_id: int, limit: int) -> list[User]:
        query = select(USERS).where(USERS.c.id > after_id).order_by(USERS.c.id).limit(limit)
        return [_user(row) for row in await self._connection.execute(query)]


# --- projects -----------------------------------------------------------------------
def _project(row: Row) -> Project:
    return Project(id=row.id, name=row.name, created_at=as_utc(row.created_at))


class SqlProjectRepository:
    def __init__(self, connection: AsyncConnection, names: Names | None = None) -> None:
        """``names``: where ``get`` records the names it read (``sql_tickets``)."""
        self._connection = connection
        self._names = names

    async def add(self, project: Project) -> Project:
        statement = (
            insert(PROJECTS)
            .values(name=project.name, created_at=project.created_at)
            .returning(PROJECTS.c.id)
        )
        project.id = (await self._connection.execute(statement)).scalar_one()
        return project

    async def get(self, project_id: int) -> Project | None:
        row = (await self._connection.execute(_PROJECT_BY_ID, {"project_id": project_id})).first()
        if row is None:
            return None
        if self._names is not None:
            self._names.projects[row.id] = row.name
        return _project(row)

    async def get_many(self, project_ids: Sequence[int]) -> dict[int, Project]:
        if not project_ids:
            return {}
        rows = await self._connection.execute(_PROJECTS_BY_IDS, {"project_ids": list(project_ids)})
        return {row.id: _project(row) for row in rows}

    async def newest(self, *, limit: int, offset: int) -> list[Project]:
        query = select(PROJECTS).order_by(PROJECTS.c.id.desc()).limit(limit).offset(offset)
        return [_project(row) for row in await self._connection.execute(query)]


# --- refresh tokens -----------------------------------------------------------------
def _refresh(row: Row) -> RefreshTokenRecord:
    return RefreshTokenRecord(
        jti=row.jti,
        family=row.family,
        user_id=row.user_id,
        issued_at=as_utc(row.issued_at),
        expires_at=as_utc(row.expires_at),
        used_at=maybe_utc(row.used_at),
        revoked_at=maybe_utc(row.revoked_at),
    )


class SqlRefreshTokenRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, record: RefreshTokenRecord) -> None:
        await self._connection.execute(
            insert(REFRESH_TOKENS).values(
                jti=record.jti,
                family=record.family,
                user_id=record.user_id,
                issued_at=record.issued_at,
                expires_at=record.expires_at,
            )
        )

    async def get(self, jti: str, *, for_update: bool = False) -> RefreshTokenRecord | None:
        query = select(REFRESH_TOKENS).where(REFRESH_TOKENS.c.jti == jti)
        if for_update:
            query = query.with_for_update()
        row = (await self._connection.execute(query)).first()
        return _refresh(row) if row else None

    async def mark_used(self, jti: str, at: datetime) -> None:
        await self._connection.execute(
            update(REFRESH_TOKENS).where(REFRESH_TOKENS.c.jti == jti).values(used_at=at)
        )

    async def revoke_family(self, family: str, at: datetime) -> None:
        await self._connection.execute(
            update(REFRESH_TOKENS)
            .where(REFRESH_TOKENS.c.family == family)
            .values(revoked_at=func.coalesce(REFRESH_TOKENS.c.revoked_at, at))
        )

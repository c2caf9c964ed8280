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

from sqlalchemy import Table, bindparam, func, insert, literal_column, select, union_all, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import SQLModel

from incident_contracts.enums import Category, Priority, Role, TicketStatus
from incident_tickets.adapters.sql_tables import (
    ProjectRow,
    RefreshTokenRow,
    TicketAssigneeRow,
    TicketRow,
    UserRow,
)
from incident_tickets.domain.errors import UsernameTaken
from incident_tickets.domain.projects import Project
from incident_tickets.domain.tickets import Ticket
from incident_tickets.domain.users import Actor, User
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
_PROJECT_BY_ID = select(PROJECTS).where(PROJECTS.c.id == bindparam("project_id"))
_PROJECTS_BY_IDS = select(PROJECTS).where(
    PROJECTS.c.id.in_(bindparam("project_ids", expanding=True))
)
_TICKET_BY_ID = select(TICKETS).where(TICKETS.c.id == bindparam("ticket_id"))
_TICKET_BY_ID_LOCKED = _TICKET_BY_ID.with_for_update()  # SQLite ignores it: it locks the file
_TICKET_COLUMNS = (
    "title",
    "description",
    "priority",
    "category",
    "status",
    "project_id",
    "created_by_id",
    "created_at",
    "updated_at",
    "opened_at",
    "started_at",
    "resolved_at",
    "closed_at",
    "resolution_due_at",
    "rejection_comment",
)
UPDATE_TICKET = (
    update(TICKETS)
    .where(TICKETS.c.id == bindparam("t_id"))
    .values({name: bindparam(f"t_{name}") for name in _TICKET_COLUMNS})
)
"""Every column, from ``_ticket_values`` with ``t_`` before each name (a SET clause given
explicitly so that the statement can be a CTE; the prefix keeps its parameters apart from
the outbox row's)."""
_ASSIGNEES_OF = (
    select(ASSIGNEES.c.ticket_id, ASSIGNEES.c.user_id)
    .where(ASSIGNEES.c.ticket_id.in_(bindparam("ticket_ids", expanding=True)))
    .order_by(ASSIGNEES.c.ticket_id, ASSIGNEES.c.position)
)

_NAMES = union_all(
    select(literal_column("0").label("kind"), USERS.c.id, USERS.c.full_name.label("name")).where(
        USERS.c.id.in_(bindparam("user_ids", expanding=True))
    ),
    select(literal_column("1"), PROJECTS.c.id, PROJECTS.c.name).where(
        PROJECTS.c.id.in_(bindparam("project_ids", expanding=True))
    ),
)
"""User and project names in one round trip: kind 0 rows are users, kind 1 projects."""


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def as_utc(value: datetime) -> datetime:
    result = _utc(value)
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
        created_at=_utc(row.created_at),
    )


class SqlUserRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

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
        return {row.id: _user(row) for row in rows}

    async def save(self, user: User) -> None:
        await self._connection.execute(
            update(USERS)
            .where(USERS.c.id == user.id)
            .values(full_name=user.full_name, role=user.role.value, is_active=user.is_active)
        )

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
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

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
        return _project(row) if row else None

    async def get_many(self, project_ids: Sequence[int]) -> dict[int, Project]:
        if not project_ids:
            return {}
        rows = await self._connection.execute(_PROJECTS_BY_IDS, {"project_ids": list(project_ids)})
        return {row.id: _project(row) for row in rows}

    async def newest(self, *, limit: int, offset: int) -> list[Project]:
        query = select(PROJECTS).order_by(PROJECTS.c.id.desc()).limit(limit).offset(offset)
        return [_project(row) for row in await self._connection.execute(query)]


class SqlNameDirectory:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def lookup(self, user_ids: Sequence[int], project_ids: Sequence[int]) -> Names:
        names = Names(users={}, projects={})
        if not user_ids and not project_ids:
            return names
        parameters = {"user_ids": list(user_ids), "project_ids": list(project_ids)}
        for kind, row_id, name in await self._connection.execute(_NAMES, parameters):
            (names.projects if kind else names.users)[row_id] = name
        return names


# --- tickets ------------------------------------------------------------------------
_TICKET_FIELDS = (
    "title",
    "description",
    "created_at",
    "updated_at",
    "opened_at",
    "started_at",
    "resolved_at",
    "closed_at",
    "resolution_due_at",
    "rejection_comment",
)


def _ticket(row: Row, assignee_ids: list[int]) -> Ticket:
    return Ticket(
        id=row.id,
        title=row.title,
        description=row.description,
        priority=Priority(row.priority),
        category=Category(row.category),
        status=TicketStatus(row.status),
        project_id=row.project_id,
        created_by_id=row.created_by_id,
        assignee_ids=assignee_ids,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
        opened_at=_utc(row.opened_at),
        started_at=_utc(row.started_at),
        resolved_at=_utc(row.resolved_at),
        closed_at=_utc(row.closed_at),
        resolution_due_at=_utc(row.resolution_due_at),
        rejection_comment=row.rejection_comment,
    )


def _ticket_values(ticket: Ticket) -> dict[str, object]:
    values: dict[str, object] = {name: getattr(ticket, name) for name in _TICKET_FIELDS}
    values.update(
        priority=ticket.priority.value,
        category=ticket.category.value,
        status=ticket.status.value,
        project_id=ticket.project_id,
        created_by_id=ticket.created_by_id,
    )
    return values


class SqlTicketRepository:
    def __init__(self, connection: AsyncConnection, *, defer_saves: bool = False) -> None:
        """``defer_saves``: ``save`` keeps the ticket's UPDATE for the unit of work to send
        with its outbox row in one statement (``take_pending_save``); any other statement
        of this repository sends it first, so reads here always see it."""
        self._connection = connection
        # Assignees as stored, per ticket loaded in this unit of work: ``save`` inserts only
        # the new ones without reading them again (assignees are only ever added).
        self._stored_assignees: dict[int, list[int]] = {}
        self._defer_saves = defer_saves
        self._pending_save: dict[str, object] | None = None

    def take_pending_save(self) -> dict[str, object] | None:
        """The parameters of ``UPDATE_TICKET`` not sent yet; the caller now owns them."""
        pending, self._pending_save = self._pending_save, None
        return pending

    async def flush(self) -> None:
        if (pending := self.take_pending_save()) is not None:
            await self._connection.execute(UPDATE_TICKET, pending)

    async def add(self, ticket: Ticket) -> Ticket:
        await self.flush()
        statement = insert(TICKETS).values(_ticket_values(ticket)).returning(TICKETS.c.id)
        ticket.id = (await self._connection.execute(statement)).scalar_one()
        await self._add_assignees(ticket, [])
        return ticket

    async def get(self, ticket_id: int, *, for_update: bool = False) -> Ticket | None:
        await self.flush()
        query = _TICKET_BY_ID_LOCKED if for_update else _TICKET_BY_ID
        row = (await self._connection.execute(query, {"ticket_id": ticket_id})).first()
        if row is None:
            return None
        # A query of its own, after the lock: a statement that waited for the lock sees only
        # the locked row's new version, not rows other transactions added meanwhile (READ
        # COMMITTED), so assignees joined into the same statement could be stale.
        assignees = (await self._assignees([ticket_id])).get(ticket_id, [])
        self._stored_assignees[ticket_id] = list(assignees)
        return _ticket(row, assignees)

    async def save(self, ticket: Ticket) -> None:
        assert ticket.id is not None, "only a stored ticket is saved"
        await self.flush()
        values = _ticket_values(ticket)
        self._pending_save = {"t_id": ticket.id} | {f"t_{k}": v for k, v in values.items()}
        if not self._defer_saves:
            await self.flush()
        stored = self._stored_assignees.get(ticket.id)
        if stored is None:
            stored = (await self._assignees([ticket.id])).get(ticket.id, [])
        await self._add_assignees(ticket, stored)

    async def list_visible(self, actor: Actor, *, limit: int, offset: int) -> list[Ticket]:
        await self.flush()
        query = select(TICKETS).order_by(TICKETS.c.id.desc()).limit(limit).offset(offset)
        if actor.role is Role.CLIENT:
            query = query.where(TICKETS.c.created_by_id == actor.id)
        elif actor.role is Role.DEVELOPER:
            assigned = select(ASSIGNEES.c.ticket_id).where(ASSIGNEES.c.user_id == actor.id)
            query = query.where(TICKETS.c.id.in_(assigned))
        rows = list(await self._connection.execute(query))
        assignees = await self._assignees([row.id for row in rows])
        return [_ticket(row, assignees.get(row.id, [])) for row in rows]

    async def _assignees(self, ticket_ids: list[int]) -> dict[int, list[int]]:
        if not ticket_ids:
            return {}
        result: dict[int, list[int]] = {}
        rows = await self._connection.execute(_ASSIGNEES_OF, {"ticket_ids": ticket_ids})
        for ticket_id, user_id in rows:
            result.setdefault(ticket_id, []).append(user_id)
        return result

    async def _add_assignees(self, ticket: Ticket, stored: list[int]) -> None:
        assert ticket.id is not None
        new = [user_id for user_id in ticket.assignee_ids if user_id not in stored]
        self._stored_assignees[ticket.id] = [*stored, *new]
        if new:
            await self._connection.execute(
                insert(ASSIGNEES),
                [
                    {"ticket_id": ticket.id, "user_id": user_id, "position": position}
                    for position, user_id in enumerate(new, start=len(stored))
                ],
            )


# --- refresh tokens -----------------------------------------------------------------
def _refresh(row: Row) -> RefreshTokenRecord:
    return RefreshTokenRecord(
        jti=row.jti,
        family=row.family,
        user_id=row.user_id,
        issued_at=as_utc(row.issued_at),
        expires_at=as_utc(row.expires_at),
        used_at=_utc(row.used_at),
        revoked_at=_utc(row.revoked_at),
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

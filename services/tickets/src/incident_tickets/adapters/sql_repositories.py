"""The repositories of ``service.ports`` over an SQLAlchemy async session.

Rows are mapped to domain objects and back here. SQLite drops time zones, so every datetime
read back is made UTC again (the service only ever stores UTC).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

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
from incident_tickets.service.ports import RefreshTokenRecord


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def as_utc(value: datetime) -> datetime:
    result = _utc(value)
    assert result is not None
    return result


# --- users --------------------------------------------------------------------------
def _user(row: UserRow) -> User:
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
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, user: User) -> User:
        row = UserRow(
            username=user.username,
            full_name=user.full_name,
            role=user.role.value,
            password_hash=user.password_hash,
            is_active=user.is_active,
            created_at=user.created_at or datetime.now(UTC),
        )
        self._session.add(row)
        try:
            await self._session.flush()
        except IntegrityError as error:
            raise UsernameTaken(user.username) from error
        user.id = row.id
        return user

    async def get(self, user_id: int) -> User | None:
        row = await self._session.get(UserRow, user_id)
        return _user(row) if row else None

    async def get_by_username(self, username: str) -> User | None:
        row = await self._session.scalar(select(UserRow).where(col(UserRow.username) == username))
        return _user(row) if row else None

    async def get_many(self, user_ids: Sequence[int]) -> dict[int, User]:
        if not user_ids:
            return {}
        rows = await self._session.scalars(select(UserRow).where(col(UserRow.id).in_(user_ids)))
        return {row.id: _user(row) for row in rows if row.id is not None}

    async def save(self, user: User) -> None:
        await self._session.execute(
            update(UserRow)
            .where(col(UserRow.id) == user.id)
            .values(full_name=user.full_name, role=user.role.value, is_active=user.is_active)
        )

    async def newest(self, *, role: Role | None, limit: int, offset: int) -> list[User]:
        query = select(UserRow).order_by(col(UserRow.id).desc()).limit(limit).offset(offset)
        if role is not None:
            query = query.where(col(UserRow.role) == role.value)
        return [_user(row) for row in await self._session.scalars(query)]

    async def list_after(self, after_id: int, limit: int) -> list[User]:
        query = (
            select(UserRow).where(col(UserRow.id) > after_id).order_by(col(UserRow.id)).limit(limit)
        )
        return [_user(row) for row in await self._session.scalars(query)]


# --- projects -----------------------------------------------------------------------
def _project(row: ProjectRow) -> Project:
    return Project(id=row.id, name=row.name, created_at=as_utc(row.created_at))


class SqlProjectRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, project: Project) -> Project:
        row = ProjectRow(name=project.name, created_at=project.created_at)
        self._session.add(row)
        await self._session.flush()
        project.id = row.id
        return project

    async def get(self, project_id: int) -> Project | None:
        row = await self._session.get(ProjectRow, project_id)
        return _project(row) if row else None

    async def get_many(self, project_ids: Sequence[int]) -> dict[int, Project]:
        if not project_ids:
            return {}
        query = select(ProjectRow).where(col(ProjectRow.id).in_(project_ids))
        return {row.id: _project(row) for row in await self._session.scalars(query) if row.id}

    async def newest(self, *, limit: int, offset: int) -> list[Project]:
        query = select(ProjectRow).order_by(col(ProjectRow.id).desc()).limit(limit).offset(offset)
        return [_project(row) for row in await self._session.scalars(query)]


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


def _ticket(row: TicketRow, assignee_ids: list[int]) -> Ticket:
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
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        # Assignees as stored, per ticket loaded in this unit of work: ``save`` inserts only
        # the new ones without reading them again (assignees are only ever added).
        self._stored_assignees: dict[int, list[int]] = {}

    async def add(self, ticket: Ticket) -> Ticket:
        row = TicketRow.model_validate(_ticket_values(ticket))
        self._session.add(row)
        await self._session.flush()
        ticket.id = row.id
        await self._add_assignees(ticket, [])
        return ticket

    async def get(self, ticket_id: int, *, for_update: bool = False) -> Ticket | None:
        query = select(TicketRow).where(col(TicketRow.id) == ticket_id)
        if for_update:
            query = query.with_for_update()  # ignored by SQLite, which locks the whole file
        row = await self._session.scalar(query)
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
        await self._session.execute(
            update(TicketRow).where(col(TicketRow.id) == ticket.id).values(_ticket_values(ticket))
        )
        stored = self._stored_assignees.get(ticket.id)
        if stored is None:
            stored = (await self._assignees([ticket.id])).get(ticket.id, [])
        await self._add_assignees(ticket, stored)

    async def list_visible(self, actor: Actor, *, limit: int, offset: int) -> list[Ticket]:
        query = select(TicketRow).order_by(col(TicketRow.id).desc()).limit(limit).offset(offset)
        if actor.role is Role.CLIENT:
            query = query.where(col(TicketRow.created_by_id) == actor.id)
        elif actor.role is Role.DEVELOPER:
            assigned = select(col(TicketAssigneeRow.ticket_id)).where(
                col(TicketAssigneeRow.user_id) == actor.id
            )
            query = query.where(col(TicketRow.id).in_(assigned))
        rows = list(await self._session.scalars(query))
        assignees = await self._assignees([row.id for row in rows if row.id is not None])
        return [_ticket(row, assignees.get(row.id or 0, [])) for row in rows]

    async def _assignees(self, ticket_ids: list[int]) -> dict[int, list[int]]:
        if not ticket_ids:
            return {}
        query = (
            select(TicketAssigneeRow)
            .where(col(TicketAssigneeRow.ticket_id).in_(ticket_ids))
            .order_by(col(TicketAssigneeRow.ticket_id), col(TicketAssigneeRow.position))
        )
        result: dict[int, list[int]] = {}
        for row in await self._session.scalars(query):
            result.setdefault(row.ticket_id, []).append(row.user_id)
        return result

    async def _add_assignees(self, ticket: Ticket, stored: list[int]) -> None:
        assert ticket.id is not None
        new = [user_id for user_id in ticket.assignee_ids if user_id not in stored]
        self._stored_assignees[ticket.id] = [*stored, *new]
        for position, user_id in enumerate(new, start=len(stored)):
            self._session.add(
                TicketAssigneeRow(ticket_id=ticket.id, user_id=user_id, position=position)
            )
        if new:
            await self._session.flush()


# --- refresh tokens -----------------------------------------------------------------
def _refresh(row: RefreshTokenRow) -> RefreshTokenRecord:
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
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, record: RefreshTokenRecord) -> None:
        self._session.add(
            RefreshTokenRow(
                jti=record.jti,
                family=record.family,
                user_id=record.user_id,
                issued_at=record.issued_at,
                expires_at=record.expires_at,
            )
        )
        await self._session.flush()

    async def get(self, jti: str, *, for_update: bool = False) -> RefreshTokenRecord | None:
        query = select(RefreshTokenRow).where(col(RefreshTokenRow.jti) == jti)
        if for_update:
            query = query.with_for_update()
        row = await self._session.scalar(query)
        return _refresh(row) if row else None

    async def mark_used(self, jti: str, at: datetime) -> None:
        await self._session.execute(
            update(RefreshTokenRow).where(col(RefreshTokenRow.jti) == jti).values(used_at=at)
        )

    async def revoke_family(self, family: str, at: datetime) -> None:
        await self._session.execute(
            update(RefreshTokenRow)
            .where(col(RefreshTokenRow.family) == family)
            .values(revoked_at=func.coalesce(RefreshTokenRow.revoked_at, at))
        )

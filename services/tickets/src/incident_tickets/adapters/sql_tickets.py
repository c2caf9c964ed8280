"""The tickets repository and the names shown beside ids, over one SQLAlchemy connection.

Both share the unit of work's ``Names``: names read with a ticket's assignees (or with
users loaded for an assignment) are not read again to build the ticket's view, in the same
transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, func, insert, literal_column, select, union_all, update
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import BindParameter

from incident_contracts.enums import Category, Priority, Role, TicketStatus
from incident_tickets.adapters.sql_repositories import (
    ASSIGNEES,
    PROJECTS,
    TICKETS,
    USERS,
    Row,
    as_utc,
    maybe_utc,
)
from incident_tickets.domain.tickets import Ticket
from incident_tickets.domain.users import Actor
from incident_tickets.service.ports import Names

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

_ASSIGNEE, _CREATOR, _PROJECT = 0, 1, 2
_IN_TICKETS: BindParameter[int] = bindparam("ticket_ids", expanding=True)
_ASSIGNEES_AND_NAMES_OF = union_all(
    select(
        literal_column(str(_ASSIGNEE)).label("kind"),
        ASSIGNEES.c.ticket_id,
        ASSIGNEES.c.position,
        USERS.c.id,
        USERS.c.full_name.label("name"),
    )
    .select_from(ASSIGNEES.join(USERS, USERS.c.id == ASSIGNEES.c.user_id))
    .where(ASSIGNEES.c.ticket_id.in_(_IN_TICKETS)),
    select(
        literal_column(str(_CREATOR)),
        TICKETS.c.id,
        literal_column("0"),
        USERS.c.id,
        USERS.c.full_name,
    )
    .select_from(TICKETS.join(USERS, USERS.c.id == TICKETS.c.created_by_id))
    .where(TICKETS.c.id.in_(_IN_TICKETS)),
    select(
        literal_column(str(_PROJECT)),
        TICKETS.c.id,
        literal_column("0"),
        PROJECTS.c.id,
        PROJECTS.c.name,
    )
    .select_from(TICKETS.join(PROJECTS, PROJECTS.c.id == TICKETS.c.project_id))
    .where(TICKETS.c.id.in_(_IN_TICKETS)),
).order_by(literal_column("kind"), literal_column("ticket_id"), literal_column("position"))
"""The assignees of tickets in assignment order, with their names, the creators' and the
projects' names: what a ticket's view needs besides the ticket row, in one round trip."""

_SEEN = TICKETS.alias("seen")
_NAMED = ASSIGNEES.join(USERS, USERS.c.id == ASSIGNEES.c.user_id)
_IN_ASSIGNMENT_ORDER = (ASSIGNEES.c.position, ASSIGNEES.c.user_id)
_TICKET_WITH_NAMES = select(
    TICKETS,
    # Whether this statement's snapshot shows the very version of the row it returns (see
    # ``SqlTicketRepository.get``): xmin is the id of the transaction that wrote a version.
    (
        literal_column("tickets.xmin")
        == select(literal_column("seen.xmin")).where(_SEEN.c.id == TICKETS.c.id).scalar_subquery()
    ).label("fresh"),
    select(func.array_agg(aggregate_order_by(ASSIGNEES.c.user_id, *_IN_ASSIGNMENT_ORDER)))
    .select_from(_NAMED)
    .where(ASSIGNEES.c.ticket_id == TICKETS.c.id)
    .scalar_subquery()
    .label("assignee_ids"),
    select(func.array_agg(aggregate_order_by(USERS.c.full_name, *_IN_ASSIGNMENT_ORDER)))
    .select_from(_NAMED)
    .where(ASSIGNEES.c.ticket_id == TICKETS.c.id)
    .scalar_subquery()
    .label("assignee_names"),
    select(USERS.c.full_name)
    .where(USERS.c.id == TICKETS.c.created_by_id)
    .scalar_subquery()
    .label("creator_name"),
    select(PROJECTS.c.name)
    .where(PROJECTS.c.id == TICKETS.c.project_id)
    .scalar_subquery()
    .label("project_name"),
).where(TICKETS.c.id == bindparam("ticket_id"))
_TICKET_WITH_NAMES_LOCKED = _TICKET_WITH_NAMES.with_for_update(of=TICKETS)
"""PostgreSQL: a ticket with everything its view needs, in one round trip."""

_NAMES = union_all(
    select(literal_column("0").label("kind"), USERS.c.id, USERS.c.full_name.label("name")).where(
        USERS.c.id.in_(bindparam("user_ids", expanding=True))
    ),
    select(literal_column("1"), PROJECTS.c.id, PROJECTS.c.name).where(
        PROJECTS.c.id.in_(bindparam("project_ids", expanding=True))
    ),
)
"""User and project names in one round trip: kind 0 rows are users, kind 1 projects."""


class SqlNameDirectory:
    def __init__(self, connection: AsyncConnection, known: Names) -> None:
        """``known``: the names this unit of work has read already (they are not read again)."""
        self._connection = connection
        self._known = known

    async def lookup(self, user_ids: Sequence[int], project_ids: Sequence[int]) -> Names:
        known = self._known
        missing_users = [i for i in user_ids if i not in known.users]
        missing_projects = [i for i in project_ids if i not in known.projects]
        if missing_users or missing_projects:
            parameters = {"user_ids": missing_users, "project_ids": missing_projects}
            for kind, row_id, name in await self._connection.execute(_NAMES, parameters):
                (known.projects if kind else known.users)[row_id] = name
        return Names(
            users={i: known.users[i] for i in user_ids if i in known.users},
            projects={i: known.projects[i] for i in project_ids if i in known.projects},
        )


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
        opened_at=maybe_utc(row.opened_at),
        started_at=maybe_utc(row.started_at),
        resolved_at=maybe_utc(row.resolved_at),
        closed_at=maybe_utc(row.closed_at),
        resolution_due_at=maybe_utc(row.resolution_due_at),
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
    def __init__(
        self, connection: AsyncConnection, names: Names, *, defer_saves: bool = False
    ) -> None:
        """``names``: where the names read with assignees are recorded (``SqlNameDirectory``).
        ``defer_saves``: ``save`` keeps the ticket's UPDATE for the unit of work to send
        with its outbox row in one statement (``take_pending_save``); any other statement
        of this repository sends it first, so reads here always see it."""
        self._connection = connection
        self._names = names
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
        if self._connection.dialect.name == "postgresql":
            return await self._get_with_names(ticket_id, for_update=for_update)
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

    async def _get_with_names(self, ticket_id: int, *, for_update: bool) -> Ticket | None:
        query = _TICKET_WITH_NAMES_LOCKED if for_update else _TICKET_WITH_NAMES
        row = (await self._connection.execute(query, {"ticket_id": ticket_id})).first()
        if row is None:
            return None
        if row.fresh:
            assignees = list(row.assignee_ids or [])
            users = self._names.users
            users.update(zip(assignees, row.assignee_names or [], strict=True))
            users[row.created_by_id] = row.creator_name
            self._names.projects[row.project_id] = row.project_name
        else:
            # The statement waited for the lock behind a change, and READ COMMITTED then
            # returns the row's new version while its subqueries still read the snapshot
            # taken before the wait: the assignees that change added are not in it. A
            # second statement has a snapshot of its own, taken after the lock.
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
        """Assignee ids by ticket, in assignment order; the names come along."""
        if not ticket_ids:
            return {}
        result: dict[int, list[int]] = {}
        users, projects = self._names.users, self._names.projects
        parameters = {"ticket_ids": ticket_ids}
        for kind, ticket_id, _, row_id, name in await self._connection.execute(
            _ASSIGNEES_AND_NAMES_OF, parameters
        ):
            if kind == _PROJECT:
                projects[row_id] = name
                continue
            users[row_id] = name
            if kind == _ASSIGNEE:
                result.setdefault(ticket_id, []).append(row_id)
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

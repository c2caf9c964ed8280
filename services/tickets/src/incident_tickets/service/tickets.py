"""Ticket use cases: create, read, and the lifecycle actions of API.md."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from incident_contracts.enums import Category, Priority
from incident_tickets.domain.errors import InvalidProject, TicketNotFound
from incident_tickets.domain.tickets import Ticket
from incident_tickets.domain.users import Actor
from incident_tickets.service.ports import Clock, UnitOfWork, UnitOfWorkFactory
from incident_tickets.service.views import TicketView, ticket_envelope, view_of, views_of


class TicketService:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def create(
        self,
        actor: Actor,
        *,
        title: str,
        description: str,
        priority: Priority,
        category: Category,
        project_id: int,
    ) -> TicketView:
        async with self._uow() as uow:
            ticket = Ticket.create(
                actor,
                title=title,
                description=description,
                priority=priority,
                category=category,
                project_id=project_id,
                now=self._clock(),
            )
            if await uow.projects.get(project_id) is None:
                raise InvalidProject(f"Project {project_id} does not exist.")
            await uow.tickets.add(ticket)
            return await self._commit(uow, ticket)

    async def get(self, actor: Actor, ticket_id: int) -> TicketView:
        async with self._uow.reading() as uow:
            ticket = await uow.tickets.get(ticket_id)
            # Out of scope looks exactly like absent: nobody learns which ids exist.
            if ticket is None or not ticket.visible_to(actor):
                raise TicketNotFound(ticket_id)
            return await view_of(uow, ticket)

    async def list_tickets(self, actor: Actor, *, limit: int, offset: int) -> list[TicketView]:
        async with self._uow.reading() as uow:
            tickets = await uow.tickets.list_visible(actor, limit=limit, offset=offset)
            return await views_of(uow, tickets)

    async def open(self, actor: Actor, ticket_id: int) -> TicketView:
        return await self._act(ticket_id, lambda t, now: t.open(actor, now))

    async def start(self, actor: Actor, ticket_id: int) -> TicketView:
        return await self._act(ticket_id, lambda t, now: t.start(actor, now))

    async def finish(self, actor: Actor, ticket_id: int) -> TicketView:
        return await self._act(ticket_id, lambda t, now: t.finish(actor, now))

    async def approve(self, actor: Actor, ticket_id: int) -> TicketView:
        return await self._act(ticket_id, lambda t, now: t.approve(actor, now))

    async def reject(self, actor: Actor, ticket_id: int, comment: str | None) -> TicketView:
        return await self._act(ticket_id, lambda t, now: t.reject(actor, comment, now))

    async def assign(
        self,
        actor: Actor,
        ticket_id: int,
        developer_ids: Sequence[int],
        resolution_due_at: datetime | None = None,
    ) -> TicketView:
        async with self._uow() as uow:
            ticket = await self._load_for_action(uow, ticket_id)
            developers = await uow.users.get_many(sorted(set(developer_ids)))
            ticket.assign(
                actor, developer_ids, list(developers.values()), self._clock(), resolution_due_at
            )
            await uow.tickets.save(ticket)
            return await self._commit(uow, ticket)

    async def _act(self, ticket_id: int, action: Callable[[Ticket, datetime], None]) -> TicketView:
        async with self._uow() as uow:
            ticket = await self._load_for_action(uow, ticket_id)
            action(ticket, self._clock())
            await uow.tickets.save(ticket)
            return await self._commit(uow, ticket)

    @staticmethod
    async def _load_for_action(uow: UnitOfWork, ticket_id: int) -> Ticket:
        # Acting on a ticket one may not see is "forbidden" (the entity decides), not 404:
        # only an absent ticket is not found.
        ticket = await uow.tickets.get(ticket_id, for_update=True)
        if ticket is None:
            raise TicketNotFound(ticket_id)
        return ticket

    @staticmethod
    async def _commit(uow: UnitOfWork, ticket: Ticket) -> TicketView:
        view = await view_of(uow, ticket)
        snapshot = view.snapshot()
        for event in ticket.events:
            uow.emit(ticket_envelope(event, snapshot))
        ticket.events.clear()
        await uow.commit()
        return view

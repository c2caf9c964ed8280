"""A ticket with the names users see (project, creator, assignees), and its event envelopes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from incident_contracts import events as contract
from incident_contracts.events import TicketSnapshot, UserSnapshot
from incident_tickets.domain.tickets import Ticket, TicketAction
from incident_tickets.domain.tickets import TicketEvent as DomainTicketEvent
from incident_tickets.domain.users import User
from incident_tickets.service.ports import UnitOfWork


@dataclass(frozen=True, slots=True)
class TicketView:
    ticket: Ticket
    project_name: str
    created_by_name: str
    assigned_to_names: list[str]

    def snapshot(self) -> TicketSnapshot:
        t = self.ticket
        assert t.id is not None, "a stored ticket has an id"
        return TicketSnapshot(
            id=t.id,
            title=t.title,
            description=t.description,
            priority=t.priority,
            category=t.category,
            status=t.status,
            project_id=t.project_id,
            project_name=self.project_name,
            created_by_id=t.created_by_id,
            created_by_name=self.created_by_name,
            assignee_ids=list(t.assignee_ids),
            assigned_to_names=list(self.assigned_to_names),
            created_at=t.created_at,
            opened_at=t.opened_at,
            started_at=t.started_at,
            resolved_at=t.resolved_at,
            closed_at=t.closed_at,
            resolution_due_at=t.resolution_due_at,
            rejection_comment=t.rejection_comment,
        )


async def views_of(uow: UnitOfWork, tickets: list[Ticket]) -> list[TicketView]:
    """Attach names with one batched lookup, whatever the number of tickets."""
    user_ids = {t.created_by_id for t in tickets} | {i for t in tickets for i in t.assignee_ids}
    names = await uow.names.lookup(sorted(user_ids), sorted({t.project_id for t in tickets}))
    users, projects = names.users, names.projects
    return [
        TicketView(
            ticket=t,
            project_name=projects.get(t.project_id, ""),
            created_by_name=users.get(t.created_by_id, ""),
            assigned_to_names=[users.get(i, "") for i in t.assignee_ids],
        )
        for t in tickets
    ]


async def view_of(uow: UnitOfWork, ticket: Ticket) -> TicketView:
    return (await views_of(uow, [ticket]))[0]


def ticket_envelope(event: DomainTicketEvent, snapshot: TicketSnapshot) -> contract.TicketEvent:
    """The contracts event for one recorded domain event, carrying the snapshot after it."""
    base = {"event_id": uuid.uuid4(), "occurred_at": event.occurred_at, "actor_id": event.actor_id}
    payload = contract.TicketPayload(ticket=snapshot)
    match event.action:
        case TicketAction.CREATED:
            return contract.TicketCreated(**base, payload=payload)
        case TicketAction.OPENED:
            return contract.TicketOpened(**base, payload=payload)
        case TicketAction.ASSIGNED:
            return contract.TicketAssigned(
                **base,
                payload=contract.TicketAssignedPayload(
                    ticket=snapshot, newly_assigned_ids=list(event.newly_assigned_ids)
                ),
            )
        case TicketAction.WORK_STARTED:
            return contract.WorkStarted(**base, payload=payload)
        case TicketAction.WORK_FINISHED:
            return contract.WorkFinished(**base, payload=payload)
        case TicketAction.APPROVED:
            return contract.TicketApproved(**base, payload=payload)
        case TicketAction.REJECTED:
            return contract.TicketRejected(
                **base,
                payload=contract.TicketRejectedPayload(
                    ticket=snapshot, comment=event.comment or ""
                ),
            )


def user_snapshot(user: User) -> UserSnapshot:
    assert user.id is not None, "a stored user has an id"
    return UserSnapshot(
        id=user.id,
        username=user.username,
        full_name=user.full_name,
        role=user.role,
        is_active=user.is_active,
    )

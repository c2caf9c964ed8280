"""Contract events in, domain objects out: the one place that knows both shapes."""

from __future__ import annotations

from datetime import datetime

from incident_contracts import EventType, TicketEvent, UserEvent, UserSnapshot
from incident_contracts.events import TicketAssigned, TicketRejected, TicketSnapshot
from incident_notifier.domain.tickets import ChangeKind, TicketChange, TicketFacts
from incident_notifier.domain.users import DirectoryUser

CHANGE_KINDS: dict[EventType, ChangeKind] = {
    EventType.TICKET_CREATED: ChangeKind.TICKET_CREATED,
    EventType.TICKET_OPENED: ChangeKind.TICKET_OPENED,
    EventType.TICKET_ASSIGNED: ChangeKind.TICKET_ASSIGNED,
    EventType.WORK_STARTED: ChangeKind.WORK_STARTED,
    EventType.WORK_FINISHED: ChangeKind.WORK_FINISHED,
    EventType.TICKET_APPROVED: ChangeKind.TICKET_APPROVED,
    EventType.TICKET_REJECTED: ChangeKind.TICKET_REJECTED,
}


def ticket_facts(snapshot: TicketSnapshot) -> TicketFacts:
    return TicketFacts(
        id=snapshot.id,
        title=snapshot.title,
        description=snapshot.description,
        priority=snapshot.priority.value,
        priority_display=snapshot.priority.display,
        category=snapshot.category.value,
        status=snapshot.status.value,
        status_display=snapshot.status.display,
        project_name=snapshot.project_name,
        created_by_id=snapshot.created_by_id,
        created_by_name=snapshot.created_by_name,
        created_at=snapshot.created_at,
        assignee_ids=tuple(snapshot.assignee_ids),
        assigned_to_names=tuple(snapshot.assigned_to_names),
        opened_at=snapshot.opened_at,
        started_at=snapshot.started_at,
        resolved_at=snapshot.resolved_at,
        closed_at=snapshot.closed_at,
        resolution_due_at=snapshot.resolution_due_at,
        rejection_comment=snapshot.rejection_comment,
    )


def ticket_change(event: TicketEvent) -> TicketChange:
    newly_assigned: tuple[int, ...] = ()
    comment: str | None = None
    if isinstance(event, TicketAssigned):
        newly_assigned = tuple(event.payload.newly_assigned_ids)
    if isinstance(event, TicketRejected):
        comment = event.payload.comment
    return TicketChange(
        kind=CHANGE_KINDS[event.event_type],
        ticket=ticket_facts(event.payload.ticket),
        occurred_at=event.occurred_at,
        actor_id=event.actor_id,
        newly_assigned_ids=newly_assigned,
        comment=comment,
    )


def directory_user(snapshot: UserSnapshot, as_of: datetime) -> DirectoryUser:
    return DirectoryUser(
        id=snapshot.id,
        username=snapshot.username,
        full_name=snapshot.full_name,
        role=snapshot.role.value,
        is_active=snapshot.is_active,
        as_of=as_of,
    )


def directory_user_from_event(event: UserEvent) -> DirectoryUser:
    return directory_user(event.payload, event.occurred_at)

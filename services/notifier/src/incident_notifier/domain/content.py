"""What a notification says: API.md's message text and ticket fields per type, exactly.

The ticket object is JSON-ready (timestamps as ISO 8601 UTC strings with ``Z``), so the
record stores it and every reader (inbox, replay, live frame) shows the same thing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from incident_notifier.domain.tickets import ChangeKind, TicketChange, TicketFacts

JsonObject = dict[str, Any]


@dataclass(frozen=True, slots=True)
class NotificationContent:
    """Everything in a notification except its id and seq, which the store assigns."""

    notification_type: ChangeKind
    message: str
    ticket: JsonObject
    timestamp: datetime


def iso_utc(moment: datetime | None) -> str | None:
    """``2025-12-23T10:00:00Z``: UTC, with the ``Z`` suffix API.md asks for."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _message(change: TicketChange) -> str:
    ticket = change.ticket
    title = ticket.title
    match change.kind:
        case ChangeKind.TICKET_CREATED:
            return f"New {ticket.priority_display} priority ticket created: {title}"
        case ChangeKind.TICKET_OPENED:
            return f"Your ticket '{title}' has been opened and acknowledged by admin"
        case ChangeKind.TICKET_ASSIGNED:
            return f"You have been assigned to ticket: {title}"
        case ChangeKind.WORK_STARTED:
            return f"Work has started on your ticket: {title}"
        case ChangeKind.WORK_FINISHED:
            return f"Work completed on your ticket '{title}'. Please review and approve."
        case ChangeKind.TICKET_APPROVED:
            return f"Ticket '{title}' has been approved and closed by client"
        case ChangeKind.TICKET_REJECTED:
            return f"Ticket '{title}' has been rejected by client. Reason: {_comment(change)}"


def _comment(change: TicketChange) -> str:
    # The event's own comment is the reason given with this rejection; the snapshot's
    # rejection_comment is the fallback for producers that only fill the snapshot.
    return change.comment or change.ticket.rejection_comment or ""


def _created(change: TicketChange) -> JsonObject:
    t = change.ticket
    return {
        "id": t.id,
        "title": t.title,
        "priority": t.priority,
        "priority_display": t.priority_display,
        "category": t.category,
        "status": t.status,
        "created_by": t.created_by_name,
        "project_name": t.project_name,
        "created_at": iso_utc(t.created_at),
    }


def _status(t: TicketFacts) -> JsonObject:
    return {"id": t.id, "title": t.title, "status": t.status, "status_display": t.status_display}


def _opened(change: TicketChange) -> JsonObject:
    return {**_status(change.ticket), "opened_at": iso_utc(change.ticket.opened_at)}


def _assigned(change: TicketChange) -> JsonObject:
    t = change.ticket
    return {
        "id": t.id,
        "title": t.title,
        "description": t.description,
        "priority": t.priority,
        "priority_display": t.priority_display,
        "category": t.category,
        "status": t.status,
        "assigned_to_names": list(t.assigned_to_names),
        "created_by": t.created_by_name,
        "project_name": t.project_name,
        "resolution_due_at": iso_utc(t.resolution_due_at),
    }


def _started(change: TicketChange) -> JsonObject:
    return {**_status(change.ticket), "started_at": iso_utc(change.ticket.started_at)}


def _finished(change: TicketChange) -> JsonObject:
    return {**_status(change.ticket), "resolved_at": iso_utc(change.ticket.resolved_at)}


def _approved(change: TicketChange) -> JsonObject:
    t = change.ticket
    return {**_status(t), "closed_at": iso_utc(t.closed_at), "created_by": t.created_by_name}


def _rejected(change: TicketChange) -> JsonObject:
    return {
        **_status(change.ticket),
        "created_by": change.ticket.created_by_name,
        "rejection_comment": _comment(change),
    }


_TICKET_FIELDS: dict[ChangeKind, Callable[[TicketChange], JsonObject]] = {
    ChangeKind.TICKET_CREATED: _created,
    ChangeKind.TICKET_OPENED: _opened,
    ChangeKind.TICKET_ASSIGNED: _assigned,
    ChangeKind.WORK_STARTED: _started,
    ChangeKind.WORK_FINISHED: _finished,
    ChangeKind.TICKET_APPROVED: _approved,
    ChangeKind.TICKET_REJECTED: _rejected,
}


def notification_content(change: TicketChange) -> NotificationContent:
    """The notification every recipient of this change gets; its timestamp is the change's."""
    return NotificationContent(
        notification_type=change.kind,
        message=_message(change),
        ticket=_TICKET_FIELDS[change.kind](change),
        timestamp=change.occurred_at,
    )

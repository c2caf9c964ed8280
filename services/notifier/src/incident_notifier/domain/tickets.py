"""A ticket change as the notifier sees it: what happened, to which ticket, by whom.

The service layer translates contract events into these plain objects, so the rules and
texts below are testable without pydantic or a broker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class ChangeKind(StrEnum):
    """One per notification type of API.md; the value is the ``notification_type``."""

    TICKET_CREATED = "ticket_created"
    TICKET_OPENED = "ticket_opened"
    TICKET_ASSIGNED = "ticket_assigned"
    WORK_STARTED = "work_started"
    WORK_FINISHED = "work_finished"
    TICKET_APPROVED = "ticket_approved"
    TICKET_REJECTED = "ticket_rejected"


@dataclass(frozen=True, slots=True)
class TicketFacts:
    """The ticket after the change, with the display names already resolved."""

    id: int
    title: str
    description: str
    priority: str
    priority_display: str
    category: str
    status: str
    status_display: str
    project_name: str
    created_by_id: int
    created_by_name: str
    created_at: datetime
    assignee_ids: tuple[int, ...] = ()
    assigned_to_names: tuple[str, ...] = ()
    opened_at: datetime | None = None
    started_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    resolution_due_at: datetime | None = None
    rejection_comment: str | None = None


@dataclass(frozen=True, slots=True)
class TicketChange:
    kind: ChangeKind
    ticket: TicketFacts
    occurred_at: datetime
    actor_id: int | None = None
    newly_assigned_ids: tuple[int, ...] = field(default=())
    comment: str | None = None

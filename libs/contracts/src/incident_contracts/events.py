"""Event envelopes published by the tickets service and consumed by the notifier.

Every event is one JSON object: the envelope fields (``event_id``, ``event_type``,
``occurred_at``, ``schema_version``, ``actor_id``) and a typed ``payload``. The routing key
on the events exchange is the ``event_type``. Ticket payloads carry a full snapshot of the
ticket after the change, so the notifier builds API.md's notification without calling back.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from incident_contracts.enums import Category, Priority, Role, TicketStatus
from incident_contracts.timestamps import UtcDatetime

SCHEMA_VERSION = 1


class EventType(StrEnum):
    TICKET_CREATED = "ticket.created"
    TICKET_OPENED = "ticket.opened"
    TICKET_ASSIGNED = "ticket.assigned"
    WORK_STARTED = "ticket.work_started"
    WORK_FINISHED = "ticket.work_finished"
    TICKET_APPROVED = "ticket.approved"
    TICKET_REJECTED = "ticket.rejected"
    USER_CREATED = "user.created"
    USER_UPDATED = "user.updated"


class _Model(BaseModel):
    # Unknown fields are ignored so that producers may add fields before consumers know them.
    model_config = ConfigDict(frozen=True, extra="ignore")


class TicketSnapshot(_Model):
    """The ticket as it stands after the change that the event records."""

    id: int
    title: str
    description: str
    priority: Priority
    category: Category
    status: TicketStatus
    project_id: int
    project_name: str
    created_by_id: int
    created_by_name: str
    assignee_ids: list[int] = Field(default_factory=list)
    assigned_to_names: list[str] = Field(default_factory=list)
    created_at: UtcDatetime
    opened_at: UtcDatetime | None = None
    started_at: UtcDatetime | None = None
    resolved_at: UtcDatetime | None = None
    closed_at: UtcDatetime | None = None
    resolution_due_at: UtcDatetime | None = None
    rejection_comment: str | None = None


class TicketPayload(_Model):
    ticket: TicketSnapshot


class TicketAssignedPayload(TicketPayload):
    newly_assigned_ids: list[int]
    """Developers added by this assignment; only they are notified."""


class TicketRejectedPayload(TicketPayload):
    comment: str


class UserSnapshot(_Model):
    id: int
    username: str
    full_name: str
    role: Role
    is_active: bool = True


class UsersPage(_Model):
    """The tickets service's internal answer to "every user after id N" (``USERS_EXPORT_PATH``)."""

    results: list[UserSnapshot]
    has_more: bool


class _Envelope(_Model):
    event_id: UUID
    occurred_at: UtcDatetime
    schema_version: int = SCHEMA_VERSION
    actor_id: int | None = None
    """The user whose action caused the event (never notified about it); None for the system."""


class TicketCreated(_Envelope):
    event_type: Literal[EventType.TICKET_CREATED] = EventType.TICKET_CREATED
    payload: TicketPayload


class TicketOpened(_Envelope):
    event_type: Literal[EventType.TICKET_OPENED] = EventType.TICKET_OPENED
    payload: TicketPayload


class TicketAssigned(_Envelope):
    event_type: Literal[EventType.TICKET_ASSIGNED] = EventType.TICKET_ASSIGNED
    payload: TicketAssignedPayload


class WorkStarted(_Envelope):
    event_type: Literal[EventType.WORK_STARTED] = EventType.WORK_STARTED
    payload: TicketPayload


class WorkFinished(_Envelope):
    event_type: Literal[EventType.WORK_FINISHED] = EventType.WORK_FINISHED
    payload: TicketPayload


class TicketApproved(_Envelope):
    event_type: Literal[EventType.TICKET_APPROVED] = EventType.TICKET_APPROVED
    payload: TicketPayload


class TicketRejected(_Envelope):
    event_type: Literal[EventType.TICKET_REJECTED] = EventType.TICKET_REJECTED
    payload: TicketRejectedPayload


class UserCreated(_Envelope):
    event_type: Literal[EventType.USER_CREATED] = EventType.USER_CREATED
    payload: UserSnapshot


class UserUpdated(_Envelope):
    event_type: Literal[EventType.USER_UPDATED] = EventType.USER_UPDATED
    payload: UserSnapshot


TicketEvent = (
    TicketCreated
    | TicketOpened
    | TicketAssigned
    | WorkStarted
    | WorkFinished
    | TicketApproved
    | TicketRejected
)
UserEvent = UserCreated | UserUpdated
AnyEvent = Annotated[TicketEvent | UserEvent, Field(discriminator="event_type")]

EVENT_MODELS: dict[EventType, type[_Envelope]] = {
    EventType.TICKET_CREATED: TicketCreated,
    EventType.TICKET_OPENED: TicketOpened,
    EventType.TICKET_ASSIGNED: TicketAssigned,
    EventType.WORK_STARTED: WorkStarted,
    EventType.WORK_FINISHED: WorkFinished,
    EventType.TICKET_APPROVED: TicketApproved,
    EventType.TICKET_REJECTED: TicketRejected,
    EventType.USER_CREATED: UserCreated,
    EventType.USER_UPDATED: UserUpdated,
}

_EVENT_ADAPTER: TypeAdapter[TicketEvent | UserEvent] = TypeAdapter(AnyEvent)


def parse_event(raw: bytes | str) -> TicketEvent | UserEvent:
    """Parse one message body; raises ``pydantic.ValidationError`` on anything malformed."""
    return _EVENT_ADAPTER.validate_json(raw)

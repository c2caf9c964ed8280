"""Shared contracts: event envelopes, notification payloads, token claims and wire names.

Every shape that crosses a process boundary is defined here once. Services import these
models instead of re-declaring them. Changes are additive only: new fields are optional,
nothing is renamed in place (see ``schema_version``).
"""

from incident_contracts.enums import Category, Priority, Role, TicketStatus
from incident_contracts.events import (
    AnyEvent,
    EventType,
    TicketApproved,
    TicketAssigned,
    TicketCreated,
    TicketEvent,
    TicketOpened,
    TicketRejected,
    TicketSnapshot,
    UserCreated,
    UserEvent,
    UserSnapshot,
    UserUpdated,
    WorkFinished,
    WorkStarted,
    parse_event,
)
from incident_contracts.names import Names
from incident_contracts.notifications import Delivery, Notification, NotificationType
from incident_contracts.tokens import TokenClaims, TokenType

__all__ = [
    "AnyEvent",
    "Category",
    "Delivery",
    "EventType",
    "Names",
    "Notification",
    "NotificationType",
    "Priority",
    "Role",
    "TicketApproved",
    "TicketAssigned",
    "TicketCreated",
    "TicketEvent",
    "TicketOpened",
    "TicketRejected",
    "TicketSnapshot",
    "TicketStatus",
    "TokenClaims",
    "TokenType",
    "UserCreated",
    "UserEvent",
    "UserSnapshot",
    "UserUpdated",
    "WorkFinished",
    "WorkStarted",
    "parse_event",
]

"""Roles, ticket statuses, priorities and categories, with the display names of API.md."""

from __future__ import annotations

from enum import StrEnum


class _Displayed(StrEnum):
    """A string enum whose members carry the human display name API.md gives them."""

    @property
    def display(self) -> str:
        return _DISPLAY[self]


class Role(StrEnum):
    ADMIN = "ADMIN"
    DEVELOPER = "DEVELOPER"
    CLIENT = "CLIENT"


class TicketStatus(_Displayed):
    NEW = "NEW"
    OPENED = "OPENED"
    IN_PROGRESS = "IN_PROGRESS"
    RESOLVED = "RESOLVED"
    CLOSED = "CLOSED"


class Priority(_Displayed):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


class Category(_Displayed):
    BUG = "BUG"
    FEATURE = "FEATURE"
    SUPPORT = "SUPPORT"
    INCIDENT = "INCIDENT"


_DISPLAY: dict[StrEnum, str] = {
    TicketStatus.NEW: "New",
    TicketStatus.OPENED: "Opened",
    TicketStatus.IN_PROGRESS: "In Progress",
    TicketStatus.RESOLVED: "Resolved",
    TicketStatus.CLOSED: "Closed",
    Priority.LOW: "Low",
    Priority.MEDIUM: "Medium",
    Priority.HIGH: "High",
    Priority.CRITICAL: "Critical",
    Category.BUG: "Bug",
    Category.FEATURE: "Feature Request",
    Category.SUPPORT: "Support",
    Category.INCIDENT: "Incident",
}

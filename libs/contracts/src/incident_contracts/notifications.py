"""The notification a user receives (API.md, "A notification") and its routing message."""

from __future__ import annotations

from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from incident_contracts.timestamps import UtcDatetime


class NotificationType(StrEnum):
    TICKET_CREATED = "ticket_created"
    TICKET_OPENED = "ticket_opened"
    TICKET_ASSIGNED = "ticket_assigned"
    WORK_STARTED = "work_started"
    WORK_FINISHED = "work_finished"
    TICKET_APPROVED = "ticket_approved"
    TICKET_REJECTED = "ticket_rejected"


class Notification(BaseModel):
    """Exactly the object pushed in one WebSocket text frame."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: UUID
    seq: int
    notification_type: NotificationType
    message: str
    ticket: dict[str, Any]
    timestamp: UtcDatetime


class Delivery(BaseModel):
    """A notification routed to one gateway instance for one user.

    On the wire (a Redis stream entry) it travels as two fields, ``DELIVERY_USER_FIELD`` and
    ``DELIVERY_FRAME_FIELD``; the frame is the notification's JSON, encoded once by the
    notifier and sent as-is to every connection of the user.
    """

    model_config = ConfigDict(frozen=True)

    user_id: int
    seq: int
    frame: str


DELIVERY_USER_FIELD = "u"
DELIVERY_SEQ_FIELD = "s"
DELIVERY_FRAME_FIELD = "n"
DELIVERY_ROUTED_AT_FIELD = "t"
"""Unix milliseconds when the notifier routed the entry (for the gateway's latency metric)."""


class ReplayPage(BaseModel):
    """The notifier's internal answer to "this user's records after seq N"."""

    results: list[Notification]
    has_more: bool

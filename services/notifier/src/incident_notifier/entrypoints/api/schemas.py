"""Response bodies of the inbox API (API.md), named ``...Public`` as they leave the service."""

from __future__ import annotations

from pydantic import BaseModel

from incident_contracts import Notification
from incident_contracts.timestamps import UtcDatetime
from incident_notifier.domain.records import NotificationRecord
from incident_notifier.service.rendering import notification


class NotificationPublic(Notification):
    """API.md's notification object plus the reader's state of it."""

    is_read: bool
    read_at: UtcDatetime | None

    @classmethod
    def of(cls, record: NotificationRecord) -> NotificationPublic:
        base = notification(record)
        return cls(**base.model_dump(), is_read=record.is_read, read_at=record.read_at)


class InboxPagePublic(BaseModel):
    results: list[NotificationPublic]
    next: str | None


class UnreadCountPublic(BaseModel):
    unread: int


class ReadAllPublic(BaseModel):
    updated: int


class ErrorPublic(BaseModel):
    detail: str
    code: str

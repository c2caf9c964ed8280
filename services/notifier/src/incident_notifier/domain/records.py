"""A stored notification: the content plus what the store gave it (id, seq, read state)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from incident_notifier.domain.content import NotificationContent


@dataclass(frozen=True, slots=True)
class NotificationRecord:
    id: UUID
    user_id: int
    seq: int
    content: NotificationContent
    is_read: bool = False
    read_at: datetime | None = None

"""Records in, wire shapes out: API.md's notification object and the gateways' delivery."""

from __future__ import annotations

from incident_contracts import Delivery, Notification, NotificationType
from incident_notifier.domain.records import NotificationRecord


def notification(record: NotificationRecord) -> Notification:
    content = record.content
    return Notification(
        id=record.id,
        seq=record.seq,
        notification_type=NotificationType(content.notification_type.value),
        message=content.message,
        ticket=content.ticket,
        timestamp=content.timestamp,
    )


def delivery(record: NotificationRecord) -> Delivery:
    # The frame is encoded here, once; every gateway sends these bytes as they are.
    return Delivery(
        user_id=record.user_id, seq=record.seq, frame=notification(record).model_dump_json()
    )

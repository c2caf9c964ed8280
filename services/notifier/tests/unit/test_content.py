"""API.md's message texts and ticket fields, per notification type, exactly."""

from datetime import UTC, datetime

from incident_contracts import EventType, NotificationType, TicketStatus
from incident_notifier.domain.content import NotificationContent, iso_utc, notification_content
from incident_notifier.domain.tickets import ChangeKind
from incident_notifier.service.translation import ticket_change
from incident_notifier.testing import ticket_event, ticket_snapshot

T0 = datetime(2025, 12, 23, 10, 0, tzinfo=UTC)
DUE = datetime(2025, 12, 24, 18, 0, tzinfo=UTC)


def content_of(event_type: EventType, **kwargs: object) -> NotificationContent:
    fields = {k: v for k, v in kwargs.items() if k not in ("newly", "comment", "when")}
    when = kwargs.get("when", T0)
    assert isinstance(when, datetime)
    event = ticket_event(
        event_type,
        ticket_snapshot(**fields),
        actor_id=1,
        occurred_at=when,
        newly_assigned_ids=kwargs.get("newly", ()),  # type: ignore[arg-type]
        comment=str(kwargs.get("comment", "")),
    )
    return notification_content(ticket_change(event))


def test_change_kinds_are_the_contract_notification_types() -> None:
    assert [kind.value for kind in ChangeKind] == [kind.value for kind in NotificationType]


def test_ticket_created() -> None:
    content = content_of(EventType.TICKET_CREATED)
    assert content.notification_type is ChangeKind.TICKET_CREATED
    assert content.message == "New High priority ticket created: Homepage not loading"
    assert content.ticket == {
        "id": 1,
        "title": "Homepage not loading",
        "priority": "HIGH",
        "priority_display": "High",
        "category": "BUG",
        "status": "NEW",
        "created_by": "John Client",
        "project_name": "Website Redesign",
        "created_at": "2025-12-23T10:00:00Z",
    }
    assert content.timestamp == T0


def test_ticket_opened() -> None:
    opened_at = datetime(2025, 12, 23, 10, 5, tzinfo=UTC)
    content = content_of(
        EventType.TICKET_OPENED, status=TicketStatus.OPENED, opened_at=opened_at, when=opened_at
    )
    assert content.message == (
        "Your ticket 'Homepage not loading' has been opened and acknowledged by admin"
    )
    assert content.ticket == {
        "id": 1,
        "title": "Homepage not loading",
        "status": "OPENED",
        "status_display": "Opened",
        "opened_at": "2025-12-23T10:05:00Z",
    }
    assert content.timestamp == opened_at


def test_ticket_assigned() -> None:
    content = content_of(
        EventType.TICKET_ASSIGNED,
        status=TicketStatus.OPENED,
        assignee_ids=[30, 31],
        assigned_to_names=["Alice Developer", "Bob Support"],
        resolution_due_at=DUE,
        newly=[30, 31],
    )
    assert content.message == "You have been assigned to ticket: Homepage not loading"
    assert content.ticket == {
        "id": 1,
        "title": "Homepage not loading",
        "description": "The homepage returns 500 error",
        "priority": "HIGH",
        "priority_display": "High",
        "category": "BUG",
        "status": "OPENED",
        "assigned_to_names": ["Alice Developer", "Bob Support"],
        "created_by": "John Client",
        "project_name": "Website Redesign",
        "resolution_due_at": "2025-12-24T18:00:00Z",
    }


def test_ticket_assigned_without_a_due_date_shows_null() -> None:
    content = content_of(EventType.TICKET_ASSIGNED, status=TicketStatus.OPENED, newly=[30])
    assert content.ticket["resolution_due_at"] is None


def test_work_started() -> None:
    started = datetime(2025, 12, 23, 10, 30, tzinfo=UTC)
    content = content_of(
        EventType.WORK_STARTED, status=TicketStatus.IN_PROGRESS, started_at=started
    )
    assert content.message == "Work has started on your ticket: Homepage not loading"
    assert content.ticket == {
        "id": 1,
        "title": "Homepage not loading",
        "status": "IN_PROGRESS",
        "status_display": "In Progress",
        "started_at": "2025-12-23T10:30:00Z",
    }


def test_work_finished() -> None:
    resolved = datetime(2025, 12, 23, 14, 0, tzinfo=UTC)
    content = content_of(
        EventType.WORK_FINISHED, status=TicketStatus.RESOLVED, resolved_at=resolved
    )
    assert content.message == (
        "Work completed on your ticket 'Homepage not loading'. Please review and approve."
    )
    assert content.ticket == {
        "id": 1,
        "title": "Homepage not loading",
        "status": "RESOLVED",
        "status_display": "Resolved",
        "resolved_at": "2025-12-23T14:00:00Z",
    }


def test_ticket_approved() -> None:
    closed = datetime(2025, 12, 23, 15, 0, tzinfo=UTC)
    content = content_of(EventType.TICKET_APPROVED, status=TicketStatus.CLOSED, closed_at=closed)
    assert content.message == "Ticket 'Homepage not loading' has been approved and closed by client"
    assert content.ticket == {
        "id": 1,
        "title": "Homepage not loading",
        "status": "CLOSED",
        "status_display": "Closed",
        "closed_at": "2025-12-23T15:00:00Z",
        "created_by": "John Client",
    }


def test_ticket_rejected() -> None:
    content = content_of(
        EventType.TICKET_REJECTED,
        status=TicketStatus.IN_PROGRESS,
        rejection_comment="Issue still exists on mobile",
        comment="Issue still exists on mobile",
    )
    assert content.message == (
        "Ticket 'Homepage not loading' has been rejected by client. "
        "Reason: Issue still exists on mobile"
    )
    assert content.ticket == {
        "id": 1,
        "title": "Homepage not loading",
        "status": "IN_PROGRESS",
        "status_display": "In Progress",
        "created_by": "John Client",
        "rejection_comment": "Issue still exists on mobile",
    }


def test_the_reason_given_with_the_rejection_wins_over_an_older_snapshot_comment() -> None:
    content = content_of(
        EventType.TICKET_REJECTED, rejection_comment="old reason", comment="new reason"
    )
    assert content.message.endswith("Reason: new reason")
    assert content.ticket["rejection_comment"] == "new reason"


def test_timestamps_are_utc_with_z() -> None:
    from datetime import timedelta, timezone

    plus_two = datetime(2025, 12, 23, 12, 0, 0, 250000, tzinfo=timezone(timedelta(hours=2)))
    assert iso_utc(plus_two) == "2025-12-23T10:00:00.250000Z"
    assert iso_utc(None) is None


def test_feature_category_and_critical_priority_use_their_display_names() -> None:
    content = content_of(EventType.TICKET_CREATED, priority="CRITICAL", category="FEATURE")
    assert content.message == "New Critical priority ticket created: Homepage not loading"
    assert content.ticket["priority_display"] == "Critical"
    assert content.ticket["category"] == "FEATURE"

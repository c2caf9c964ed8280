import json
from datetime import UTC, datetime, timedelta, timezone
from uuid import uuid4

import pytest
from pydantic import ValidationError

from incident_contracts import (
    Category,
    EventType,
    Priority,
    TicketAssigned,
    TicketSnapshot,
    TicketStatus,
    UserCreated,
    parse_event,
)
from incident_contracts.events import TicketAssignedPayload


def _snapshot() -> TicketSnapshot:
    return TicketSnapshot(
        id=1,
        title="Homepage not loading",
        description="500 error",
        priority=Priority.HIGH,
        category=Category.BUG,
        status=TicketStatus.OPENED,
        project_id=3,
        project_name="Website Redesign",
        created_by_id=7,
        created_by_name="John Client",
        assignee_ids=[8],
        assigned_to_names=["Alice Developer"],
        created_at=datetime(2025, 12, 23, 10, 0, tzinfo=UTC),
    )


def test_an_event_survives_a_round_trip_through_json() -> None:
    event = TicketAssigned(
        event_id=uuid4(),
        occurred_at=datetime(2025, 12, 23, 11, 0, tzinfo=timezone(timedelta(hours=1))),
        actor_id=1,
        payload=TicketAssignedPayload(ticket=_snapshot(), newly_assigned_ids=[8]),
    )
    raw = event.model_dump_json()
    assert '"occurred_at":"2025-12-23T10:00:00Z"' in raw
    assert '"event_type":"ticket.assigned"' in raw
    assert parse_event(raw) == event


def test_the_event_type_selects_the_payload_model() -> None:
    raw = json.dumps(
        {
            "event_id": str(uuid4()),
            "event_type": "user.created",
            "occurred_at": "2025-12-23T10:00:00Z",
            "payload": {"id": 5, "username": "ann", "full_name": "Ann", "role": "ADMIN"},
            "added_later": True,
        }
    )
    event = parse_event(raw)
    assert isinstance(event, UserCreated)
    assert event.event_type is EventType.USER_CREATED
    assert event.payload.is_active is True


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        b'{"event_type": "ticket.exploded"}',
        b'{"event_type": "user.created", "event_id": "x", "occurred_at": "2025-12-23T10:00:00Z"}',
        b'{"event_type": "user.created", "event_id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427",'
        b' "occurred_at": "2025-12-23T10:00:00", "payload": {"id": 1, "username": "a",'
        b' "full_name": "A", "role": "ADMIN"}}',
    ],
)
def test_malformed_messages_are_rejected(raw: bytes) -> None:
    with pytest.raises(ValidationError):
        parse_event(raw)


def test_display_names_follow_the_api() -> None:
    assert TicketStatus.IN_PROGRESS.display == "In Progress"
    assert Category.FEATURE.display == "Feature Request"
    assert Priority.CRITICAL.display == "Critical"

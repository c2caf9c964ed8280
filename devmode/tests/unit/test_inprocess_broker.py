"""The broker stand-in settles each outbox row as the notifier's RabbitMQ consumer would."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from incident_contracts import Role, TicketEvent, UserCreated, UserEvent, UserSnapshot
from incident_devmode.inprocess_broker import InProcessEventPublisher, RetryLater
from incident_notifier.domain.errors import StoreUnavailable
from incident_notifier.service.events import EventOutcome
from incident_tickets.service.ports import OutboxMessage


class Handler:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.handled: list[TicketEvent | UserEvent] = []
        self.calls = 0

    async def handle(self, event: TicketEvent | UserEvent) -> EventOutcome:
        self.calls += 1
        if self.error is not None:
            raise self.error
        self.handled.append(event)
        return EventOutcome(event.event_type.value)


def row(body: str | None = None) -> tuple[UserCreated, OutboxMessage]:
    event = UserCreated(
        event_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
        payload=UserSnapshot(id=3, username="bob", full_name="Bob", role=Role.DEVELOPER),
    )
    message = OutboxMessage(
        id=1,
        event_id=str(event.event_id),
        event_type=event.event_type.value,
        body=event.model_dump_json() if body is None else body,
        created_at=datetime.now(UTC),
    )
    return event, message


async def test_publish_returns_once_the_notifier_handled_the_event() -> None:
    handler = Handler()
    publisher = InProcessEventPublisher(handler)
    await publisher.connect()
    assert publisher.connected
    event, message = row()
    await publisher.publish(message)
    assert handler.handled == [event]
    assert publisher.dead_letters == []


async def test_a_malformed_row_is_dead_lettered_not_retried() -> None:
    handler = Handler()
    publisher = InProcessEventPublisher(handler)
    _, message = row(body="not json")
    await publisher.publish(message)
    assert handler.calls == 0
    assert [letter.event_id for letter in publisher.dead_letters] == [message.event_id]
    assert publisher.dead_letters[0].reason.startswith("malformed message")


async def test_a_failing_event_stays_in_the_outbox_until_max_attempts() -> None:
    handler = Handler(RuntimeError("boom"))
    publisher = InProcessEventPublisher(handler, max_attempts=3)
    _, message = row()
    for _ in range(2):
        with pytest.raises(RetryLater):
            await publisher.publish(message)
    await publisher.publish(message)  # the third failure dead-letters it
    assert handler.calls == 3
    assert [letter.event_id for letter in publisher.dead_letters] == [message.event_id]


async def test_a_database_outage_at_shutdown_leaves_the_row_unsent() -> None:
    handler = Handler(StoreUnavailable("database down"))
    publisher = InProcessEventPublisher(handler)
    await publisher.close()  # stopping: the handler's retry loop gives up at once
    _, message = row()
    with pytest.raises(RetryLater):
        await publisher.publish(message)
    assert publisher.dead_letters == []

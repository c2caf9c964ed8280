"""The event use case over in-memory fakes: records, seq, idempotency, directory, routing."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from incident_contracts import EventType, Role, TicketStatus
from incident_notifier.service.events import EventProcessor
from incident_notifier.testing import (
    InMemoryDeliveryRouter,
    InMemoryNotificationStore,
    InMemoryUserDirectory,
    ticket_event,
    ticket_snapshot,
    user_event,
)

ADMIN, CLIENT, DEV = 1, 2, 3
NOW = datetime(2025, 12, 23, 10, 0, 1, tzinfo=UTC)


@pytest.fixture
def store() -> InMemoryNotificationStore:
    return InMemoryNotificationStore()


@pytest.fixture
def directory() -> InMemoryUserDirectory:
    return InMemoryUserDirectory()


@pytest.fixture
def router() -> InMemoryDeliveryRouter:
    return InMemoryDeliveryRouter({ADMIN: ["gw-a", "gw-b"]})


@pytest.fixture
async def processor(
    store: InMemoryNotificationStore,
    directory: InMemoryUserDirectory,
    router: InMemoryDeliveryRouter,
) -> EventProcessor:
    handler = EventProcessor(store, directory, router, clock=lambda: NOW)
    for user_id, role, name in [
        (ADMIN, Role.ADMIN, "Ann Admin"),
        (CLIENT, Role.CLIENT, "John Client"),
        (DEV, Role.DEVELOPER, "Dev One"),
    ]:
        await handler.handle(user_event(user_id, role, name, occurred_at=NOW - timedelta(days=1)))
    return handler


async def test_a_ticket_event_writes_one_record_per_recipient_and_routes_it(
    processor: EventProcessor, store: InMemoryNotificationStore, router: InMemoryDeliveryRouter
) -> None:
    event = ticket_event(
        EventType.TICKET_CREATED, ticket_snapshot(), actor_id=CLIENT, occurred_at=NOW
    )
    batch = await processor.handle_many([event])
    [outcome] = batch.events
    assert (outcome.records_written, batch.routed, outcome.duplicate) == (1, 2, False)
    assert outcome.commit_delay_seconds == 0.0
    [record] = store.records
    assert (record.user_id, record.seq) == (ADMIN, 1)
    assert [d.seq for d in router.streams["gw-a"]] == [1]
    frame = json.loads(router.streams["gw-b"][0].frame)
    assert frame["id"] == str(record.id)
    assert frame["notification_type"] == "ticket_created"
    assert frame["timestamp"] == "2025-12-23T10:00:01Z"
    assert set(frame) == {"id", "seq", "notification_type", "message", "ticket", "timestamp"}


async def test_the_same_event_twice_creates_nothing_the_second_time(
    processor: EventProcessor, store: InMemoryNotificationStore, router: InMemoryDeliveryRouter
) -> None:
    event = ticket_event(EventType.TICKET_CREATED, ticket_snapshot(), actor_id=CLIENT)
    await processor.handle(event)
    again = await processor.handle(event)
    assert again.duplicate is True
    assert again.records_written == 0
    assert len(store.records) == 1
    assert len(router.streams["gw-a"]) == 1


async def test_seq_rises_by_one_per_notification_of_each_user(
    processor: EventProcessor, store: InMemoryNotificationStore
) -> None:
    for ticket_id in (1, 2, 3):
        await processor.handle(
            ticket_event(EventType.TICKET_CREATED, ticket_snapshot(id=ticket_id), actor_id=CLIENT)
        )
        await processor.handle(
            ticket_event(
                EventType.TICKET_OPENED,
                ticket_snapshot(id=ticket_id, status=TicketStatus.OPENED),
                actor_id=ADMIN,
            )
        )
    assert [r.seq for r in store.of(ADMIN)] == [1, 2, 3]
    assert [r.seq for r in store.of(CLIENT)] == [1, 2, 3]


async def test_an_admin_added_later_is_notified_and_a_deactivated_one_is_not(
    processor: EventProcessor, store: InMemoryNotificationStore
) -> None:
    await processor.handle(user_event(4, Role.ADMIN, "New Admin", occurred_at=NOW))
    await processor.handle(
        user_event(ADMIN, Role.ADMIN, "Ann Admin", is_active=False, updated=True, occurred_at=NOW)
    )
    await processor.handle(
        ticket_event(EventType.TICKET_CREATED, ticket_snapshot(), actor_id=CLIENT)
    )
    assert [r.user_id for r in store.records] == [4]


async def test_an_older_user_event_does_not_undo_a_newer_one(
    processor: EventProcessor, directory: InMemoryUserDirectory
) -> None:
    await processor.handle(
        user_event(DEV, Role.DEVELOPER, "Renamed", updated=True, occurred_at=NOW)
    )
    stale = await processor.handle(
        user_event(DEV, Role.DEVELOPER, "Stale", updated=True, occurred_at=NOW - timedelta(hours=1))
    )
    assert stale.duplicate is True
    known = await directory.get(DEV)
    assert known is not None
    assert known.full_name == "Renamed"


async def test_users_without_presence_get_records_but_no_routing(
    processor: EventProcessor, store: InMemoryNotificationStore, router: InMemoryDeliveryRouter
) -> None:
    batch = await processor.handle_many(
        [
            ticket_event(
                EventType.TICKET_OPENED, ticket_snapshot(status=TicketStatus.OPENED), actor_id=ADMIN
            )
        ]
    )
    assert (batch.events[0].records_written, batch.routed) == (1, 0)
    assert [r.user_id for r in store.records] == [CLIENT]
    assert sum(len(entries) for entries in router.streams.values()) == 0


async def test_a_batch_keeps_event_order_and_user_events_are_barriers(
    processor: EventProcessor, store: InMemoryNotificationStore
) -> None:
    first = ticket_event(EventType.TICKET_CREATED, ticket_snapshot(id=1), actor_id=CLIENT)
    batch = await processor.handle_many(
        [
            first,
            ticket_event(EventType.TICKET_CREATED, ticket_snapshot(id=2), actor_id=CLIENT),
            first,  # a duplicate inside the batch
            user_event(4, Role.ADMIN, "New Admin", occurred_at=NOW),
            ticket_event(EventType.TICKET_CREATED, ticket_snapshot(id=3), actor_id=CLIENT),
        ]
    )
    assert [(o.event_type, o.records_written, o.duplicate) for o in batch.events] == [
        ("ticket.created", 1, False),
        ("ticket.created", 1, False),
        ("ticket.created", 0, True),
        ("user.created", 0, False),
        ("ticket.created", 2, False),
    ]
    assert [(r.user_id, r.seq, r.content.ticket["id"]) for r in store.records] == [
        (ADMIN, 1, 1),
        (ADMIN, 2, 2),
        (ADMIN, 3, 3),
        (4, 1, 3),
    ]

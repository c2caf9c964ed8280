"""The relay over fakes: order, confirm-then-mark, failures, reconnection, wake-ups."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

from incident_tickets.service.outbox_relay import OutboxRelay
from incident_tickets.testing import InMemoryEventPublisher, InMemoryOutboxStore, RecordingMetrics


def relay_over(
    store: InMemoryOutboxStore, publisher: InMemoryEventPublisher, batch_size: int = 100
) -> tuple[OutboxRelay, RecordingMetrics]:
    metrics = RecordingMetrics()
    relay = OutboxRelay(
        store,
        publisher,
        metrics,
        sweep_interval=30.0,  # long: only wake-ups may trigger the tests' publishing
        batch_size=batch_size,
        backoff_initial=0.01,
        backoff_max=0.02,
    )
    return relay, metrics


async def test_publishes_every_row_in_order_and_marks_it_sent() -> None:
    store, publisher = InMemoryOutboxStore(), InMemoryEventPublisher()
    for kind in ["ticket.created", "ticket.opened", "user.created"]:
        store.add(kind)
    relay, metrics = relay_over(store, publisher, batch_size=2)
    assert await relay.run_once() == 3
    assert [m.event_type for m in publisher.published] == [
        "ticket.created",
        "ticket.opened",
        "user.created",
    ]
    assert store.sent == {1, 2, 3}
    assert [kind for kind, _ in metrics.confirmations] == [
        "ticket.created",
        "ticket.opened",
        "user.created",
    ]
    assert await relay.run_once() == 0


async def test_a_failure_mid_batch_keeps_the_rest_for_later_without_duplicates() -> None:
    store, publisher = InMemoryOutboxStore(), InMemoryEventPublisher()
    for _ in range(4):
        store.add("ticket.created")
    publisher.fail_after = 2
    relay, _ = relay_over(store, publisher)
    with contextlib.suppress(ConnectionError):
        await relay.run_once()
    assert store.sent == {1, 2}
    publisher.fail_after = None
    assert await relay.run_once() == 2
    assert [m.id for m in publisher.published] == [1, 2, 3, 4]


async def test_the_running_relay_is_woken_by_commits_and_survives_an_outage() -> None:
    store, publisher = InMemoryOutboxStore(), InMemoryEventPublisher()
    relay, metrics = relay_over(store, publisher)
    publisher.down = True
    relay.start()
    try:
        store.add("ticket.created")
        relay.wake()
        await until(lambda: publisher.connects == 0 and metrics.connection_states[-1:] == [False])
        publisher.down = False  # the broker is back: the backoff loop reconnects and drains
        await until(lambda: [m.id for m in publisher.published] == [1])

        store.add("ticket.opened")
        relay.wake()  # the sweep is 30 s away: only the wake-up can publish this in time
        await until(lambda: [m.id for m in publisher.published] == [1, 2])
        assert relay.connected
    finally:
        await relay.stop()
    assert not publisher.connected


async def until(condition: object, attempts: int = 500) -> None:
    for _ in range(attempts):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


async def test_commit_to_confirm_uses_the_commit_time_when_this_process_committed() -> None:
    store, publisher = InMemoryOutboxStore(), InMemoryEventPublisher()
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    store.add("ticket.created", created_at=an_hour_ago)  # event-1: committed here, just now
    store.add("ticket.opened", created_at=an_hour_ago)  # event-2: committed elsewhere
    relay, metrics = relay_over(store, publisher)
    relay.committed(["event-1"])
    await relay.run_once()
    (_, mine), (_, theirs) = metrics.confirmations
    assert mine < 60
    assert theirs >= 3600

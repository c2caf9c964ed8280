"""The relay over fakes: order, confirm-then-mark, failures, reconnection, wake-ups, and the
lease that lets one replica at a time publish."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

from incident_tickets.service.outbox_relay import OutboxRelay
from incident_tickets.testing import InMemoryEventPublisher, InMemoryOutboxStore, RecordingMetrics


class SharedLease:
    """The advisory lock of several relays, in memory: one holder at a time."""

    def __init__(self) -> None:
        self.holder: object | None = None
        self.attempts = 0

    def of(self, relay_name: str) -> Lease:
        return Lease(self, relay_name)


class Lease:
    def __init__(self, shared: SharedLease, name: str) -> None:
        self._shared = shared
        self.name = name

    async def acquire(self) -> bool:
        self._shared.attempts += 1
        if self._shared.holder is None:
            self._shared.holder = self
        return self._shared.holder is self

    async def release(self) -> None:
        if self._shared.holder is self:
            self._shared.holder = None


def relay_over(
    store: InMemoryOutboxStore,
    publisher: InMemoryEventPublisher,
    batch_size: int = 100,
    *,
    lease: Lease | None = None,
    sweep_interval: float = 30.0,  # long: only wake-ups may trigger the tests' publishing
) -> tuple[OutboxRelay, RecordingMetrics]:
    metrics = RecordingMetrics()
    relay = OutboxRelay(
        store,
        publisher,
        metrics,
        sweep_interval=sweep_interval,
        batch_size=batch_size,
        backoff_initial=0.01,
        backoff_max=0.02,
        lease=lease,
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


async def test_only_the_lease_holder_publishes_and_a_standby_takes_over_when_it_stops() -> None:
    store = InMemoryOutboxStore()
    shared = SharedLease()
    first_broker, second_broker = InMemoryEventPublisher(), InMemoryEventPublisher()
    first, first_metrics = relay_over(store, first_broker, lease=shared.of("first"))
    second, second_metrics = relay_over(
        store, second_broker, lease=shared.of("second"), sweep_interval=0.05
    )
    first.start()
    await until(lambda: first_metrics.lease_states[-1:] == [True])
    second.start()
    try:
        await until(lambda: second_metrics.lease_states[-1:] == [False])
        store.add("ticket.created")
        first.wake()
        second.wake()  # a standby ignores commits: they are the holder's
        await until(lambda: [m.id for m in first_broker.published] == [1])
        await asyncio.sleep(0.2)  # four of the standby's sweeps
        assert second_broker.published == []
        assert second.connected  # ready to take over, and its readiness says so

        await first.stop()  # gives the lease up
        assert first_metrics.lease_states[-1] is False
        store.add("ticket.opened")  # nobody wakes the standby: its next attempt finds it
        await until(lambda: [m.id for m in second_broker.published] == [2])
        assert second_metrics.lease_states[-1] is True
    finally:
        await first.stop()
        await second.stop()
    assert [m.id for m in first_broker.published] == [1]


async def test_a_holder_that_cannot_reach_the_broker_gives_the_lease_up() -> None:
    store = InMemoryOutboxStore()
    shared = SharedLease()
    broken, working = InMemoryEventPublisher(), InMemoryEventPublisher()
    first, _ = relay_over(store, broken, lease=shared.of("first"), sweep_interval=0.05)
    second, _ = relay_over(store, working, lease=shared.of("second"), sweep_interval=0.05)
    first.start()
    await until(lambda: isinstance(shared.holder, Lease) and shared.holder.name == "first")
    second.start()
    try:
        broken.down = True  # the holder's broker goes away
        store.add("ticket.created")
        first.wake()
        await until(lambda: [m.id for m in working.published] == [1])
        assert isinstance(shared.holder, Lease)
        assert shared.holder.name == "second"
    finally:
        await first.stop()
        await second.stop()
    assert store.sent == {1}

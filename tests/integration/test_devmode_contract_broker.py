"""ONE contract suite for the broker, run over the dev mode's in-process stand-in and over
RabbitMQ (the tickets service's publisher and the notifier's consumer), so the two cannot
drift apart.

What both must do with what the outbox relay publishes: hand each event to the notifier's
handler as the contract model, dead-letter a malformed message without blocking the ones
after it, and dead-letter an event whose handling keeps failing after ``max_attempts``.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aio_pika
import pytest
from harness.infra import Infra

from incident_contracts import Names, Role, TicketEvent, UserCreated, UserEvent, UserSnapshot
from incident_devmode.inprocess_broker import InProcessEventPublisher, RetryLater
from incident_notifier.adapters.prometheus_metrics import NotifierMetrics
from incident_notifier.entrypoints.consumer import EventConsumer
from incident_notifier.service.events import EventOutcome
from incident_tickets.adapters.amqp_publisher import AmqpEventPublisher
from incident_tickets.service.ports import OutboxMessage

MAX_ATTEMPTS = 3
WAIT = 20.0


@dataclass
class RecordingHandler:
    """The notifier's event handler, recording what it was given; ``failing`` event ids
    raise every time, as a bug in handling one event would."""

    handled: list[TicketEvent | UserEvent] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, event: TicketEvent | UserEvent) -> EventOutcome:
        self.changed.set()
        key = str(event.event_id)
        self.attempts[key] = self.attempts.get(key, 0) + 1
        if key in self.failing:
            raise RuntimeError("handling this event always fails")
        self.handled.append(event)
        return EventOutcome(event.event_type.value)


@dataclass
class Broker:
    handler: RecordingHandler
    send: Callable[[OutboxMessage], Awaitable[None]]
    """What the outbox relay does with one row: publish, and publish again while it fails."""
    dead_lettered: Callable[[], Awaitable[list[str]]]
    """The message ids (event ids) dead-lettered so far."""

    async def until(self, done: Callable[[], bool]) -> None:
        async with asyncio.timeout(WAIT):
            while not done():
                self.handler.changed.clear()
                await self.handler.changed.wait()


def user_created(username: str) -> UserCreated:
    return UserCreated(
        event_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
        payload=UserSnapshot(id=7, username=username, full_name="Dora Dev", role=Role.DEVELOPER),
    )


def outbox_row(event: UserCreated, body: str | None = None) -> OutboxMessage:
    return OutboxMessage(
        id=1,
        event_id=str(event.event_id),
        event_type=event.event_type.value,
        body=event.model_dump_json() if body is None else body,
        created_at=datetime.now(UTC),
    )


@pytest.fixture(params=["in-process", "rabbitmq"])
async def broker(request: pytest.FixtureRequest, infra: Infra) -> AsyncIterator[Broker]:
    handler = RecordingHandler()
    if request.param == "in-process":
        publisher = InProcessEventPublisher(handler, max_attempts=MAX_ATTEMPTS)
        await publisher.connect()

        async def relay(message: OutboxMessage) -> None:
            # The outbox relay keeps the row and publishes it again after a failure.
            for _ in range(MAX_ATTEMPTS * 2):
                try:
                    await publisher.publish(message)
                    return
                except RetryLater:
                    await publisher.close()
                    await publisher.connect()
            raise AssertionError("the row was never settled")

        async def dead() -> list[str]:
            return [letter.event_id for letter in publisher.dead_letters]

        yield Broker(handler, relay, dead)
        await publisher.close()
        return

    names = Names(f"{infra.namespace}-broker-{secrets.token_hex(3)}")
    consumer = EventConsumer(
        infra.amqp_url,
        names,
        handler,
        NotifierMetrics(),
        prefetch=4,
        max_attempts=MAX_ATTEMPTS,
    )
    await consumer.start()
    amqp_publisher = AmqpEventPublisher(infra.amqp_url, names.events_exchange)
    await amqp_publisher.connect()
    connection = await aio_pika.connect(infra.amqp_url)
    channel = await connection.channel()
    seen: list[str] = []

    async def dead_from_queue() -> list[str]:
        queue = await channel.declare_queue(
            names.dead_letter_queue, durable=True, arguments={"x-queue-type": "quorum"}
        )
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            seen.append(str(message.message_id))
        return list(seen)

    try:
        yield Broker(handler, amqp_publisher.publish, dead_from_queue)
    finally:
        await consumer.stop(1.0)
        await amqp_publisher.close()
        for queue_name in (names.notifier_queue, names.dead_letter_queue):
            with contextlib.suppress(Exception):
                await channel.queue_delete(queue_name)
        for exchange_name in (names.events_exchange, names.dead_letter_exchange):
            with contextlib.suppress(Exception):
                await channel.exchange_delete(exchange_name)
        await connection.close()


async def test_an_event_reaches_the_handler_once_as_the_contract_model(broker: Broker) -> None:
    event = user_created("dora")
    await broker.send(outbox_row(event))
    await broker.until(lambda: len(broker.handler.handled) == 1)
    assert broker.handler.handled == [event]
    assert await broker.dead_lettered() == []


async def test_a_malformed_message_is_dead_lettered_and_the_next_one_flows(
    broker: Broker,
) -> None:
    broken = user_created("broken")
    await broker.send(outbox_row(broken, body='{"event_type": "user.created", "oops": 1}'))
    fine = user_created("fine")
    await broker.send(outbox_row(fine))
    await broker.until(lambda: len(broker.handler.handled) == 1)
    assert broker.handler.handled == [fine]
    assert str(broken.event_id) not in broker.handler.attempts
    letters: list[str] = []

    async def collect() -> None:
        while str(broken.event_id) not in letters:
            letters.extend(await broker.dead_lettered())
            await asyncio.sleep(0.05)

    await asyncio.wait_for(collect(), WAIT)
    assert str(fine.event_id) not in letters


async def test_an_event_that_keeps_failing_is_dead_lettered_after_max_attempts(
    broker: Broker,
) -> None:
    doomed = user_created("doomed")
    broker.handler.failing.add(str(doomed.event_id))
    await broker.send(outbox_row(doomed))
    letters: list[str] = []

    async def collect() -> None:
        while str(doomed.event_id) not in letters:
            letters.extend(await broker.dead_lettered())
            await asyncio.sleep(0.05)

    await asyncio.wait_for(collect(), WAIT)
    assert broker.handler.attempts[str(doomed.event_id)] == MAX_ATTEMPTS
    assert broker.handler.handled == []

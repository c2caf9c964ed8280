"""The relay's publisher against the real RabbitMQ: a pipelined batch, on a busy event loop.

The relay publishes a batch of outbox rows at once and awaits the confirms together. In the
API process every event-loop turn also runs the requests' callbacks, so a batch that needs a
turn per message falls seconds behind under load. These tests count turns, not seconds.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from datetime import UTC, datetime

import pytest
from harness.infra import Infra
from harness.tickets import EventTap

from incident_contracts.names import Names
from incident_tickets.adapters.amqp_publisher import AmqpEventPublisher
from incident_tickets.service.ports import OutboxMessage

BATCH = 200
"""The relay's default batch size (``TICKETS_RELAY_BATCH_SIZE``)."""
TURN_SECONDS = 0.002
"""Long enough for the broker's confirms to arrive within a few turns, not hundreds."""


def message(number: int) -> OutboxMessage:
    body = json.dumps({"number": number})
    return OutboxMessage(
        id=number,
        event_id=str(uuid.uuid4()),
        event_type="ticket.opened",
        body=body,
        created_at=datetime.now(UTC),
    )


class BusyNeighbour:
    """Stands for the API's requests: each turn of the event loop costs it some CPU time."""

    def __init__(self) -> None:
        self.turns = 0
        self._stopped = False

    async def run(self) -> None:
        while not self._stopped:
            self.turns += 1
            time.sleep(TURN_SECONDS)  # noqa: ASYNC251  (blocking on purpose: a busy loop)
            await asyncio.sleep(0)

    def stop(self) -> None:
        self._stopped = True


async def test_a_batch_goes_out_in_a_few_turns_and_in_order(infra: Infra) -> None:
    namespace = f"{infra.namespace}-pub{secrets.token_hex(3)}"
    publisher = AmqpEventPublisher(infra.amqp_url, Names(namespace).events_exchange)
    async with EventTap(infra.amqp_url, namespace) as tap:
        await publisher.connect()
        try:
            batch = [message(number) for number in range(BATCH)]
            counter = BusyNeighbour()
            neighbour = asyncio.create_task(counter.run())
            await asyncio.sleep(0)
            first = counter.turns
            await asyncio.gather(*(publisher.publish(m) for m in batch))
            turns = counter.turns - first
            counter.stop()
            await neighbour
        finally:
            await publisher.close()
        received = await tap.take(BATCH)

    assert [event.body["number"] for event in received] == list(range(BATCH))
    assert [event.message_id for event in received] == [m.event_id for m in batch]
    assert all(event.persistent for event in received)
    # Writing the batch takes a few turns; the confirms come back over a few more reads of
    # the socket. aiormq's default ten-entry write queue made it a turn per message (200+).
    assert turns < BATCH // 4, f"{turns} event-loop turns for a batch of {BATCH}"


async def test_a_closed_publisher_refuses_to_publish(infra: Infra) -> None:
    publisher = AmqpEventPublisher(infra.amqp_url, Names(infra.namespace).events_exchange)
    await publisher.connect()
    was_connected = publisher.connected
    await publisher.close()
    assert was_connected
    assert not publisher.connected
    with pytest.raises(ConnectionError, match="not connected"):
        await publisher.publish(message(0))

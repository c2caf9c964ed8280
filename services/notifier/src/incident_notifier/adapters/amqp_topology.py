"""The notifier's part of the broker: the events exchange it binds to, its quorum queue,
and the dead-letter exchange and queue.

The events exchange is declared with exactly the arguments the tickets service uses
(durable topic), so whichever side starts first creates it.
"""

from __future__ import annotations

from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue

from incident_contracts import Names
from incident_contracts.names import TICKET_ROUTING_PATTERN, USER_ROUTING_PATTERN


@dataclass(frozen=True, slots=True)
class NotifierTopology:
    events: AbstractExchange
    queue: AbstractQueue
    dead_letters: AbstractExchange
    dead_letter_queue: AbstractQueue


async def declare_topology(channel: AbstractChannel, names: Names) -> NotifierTopology:
    events = await channel.declare_exchange(
        names.events_exchange, aio_pika.ExchangeType.TOPIC, durable=True
    )
    dead_letters = await channel.declare_exchange(
        names.dead_letter_exchange, aio_pika.ExchangeType.FANOUT, durable=True
    )
    dead_letter_queue = await channel.declare_queue(
        names.dead_letter_queue, durable=True, arguments={"x-queue-type": "quorum"}
    )
    await dead_letter_queue.bind(dead_letters)
    # Quorum: replicated, and it counts deliveries (x-delivery-count) so a message that
    # keeps failing is recognised. The broker-side dead-letter exchange is a backstop only;
    # the consumer dead-letters itself, with the reason in a header.
    queue = await channel.declare_queue(
        names.notifier_queue,
        durable=True,
        arguments={"x-queue-type": "quorum", "x-dead-letter-exchange": names.dead_letter_exchange},
    )
    for pattern in (TICKET_ROUTING_PATTERN, USER_ROUTING_PATTERN):
        await queue.bind(events, routing_key=pattern)
    return NotifierTopology(events, queue, dead_letters, dead_letter_queue)

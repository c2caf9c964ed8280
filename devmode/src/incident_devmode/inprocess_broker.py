"""The broker stand-in: the tickets outbox relay hands each event straight to the notifier.

It implements the tickets service's ``EventPublisher`` port. ``publish`` returns (the
"broker confirm") only once the notifier has settled the message the way its RabbitMQ consumer
would (``incident_notifier.entrypoints.consumer.decide``): committed records, a duplicate, or a
dead letter. A message that must be retried makes ``publish`` raise, so the outbox keeps the
row and the relay sends it again after its backoff, exactly as after a broker outage. Nothing
is ever held in memory only: until the notifier committed, the event is still in the outbox.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from incident_notifier.entrypoints.consumer import EventHandler, Verdict, decide
from incident_tickets.service.ports import OutboxMessage

log = logging.getLogger(__name__)


class RetryLater(Exception):
    """The notifier could not handle the event now; the outbox row stays unsent."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    event_id: str
    event_type: str
    reason: str


@dataclass
class InProcessEventPublisher:
    handler: EventHandler
    max_attempts: int = 5
    dead_letters: list[DeadLetter] = field(default_factory=list)
    """What RabbitMQ's dead-letter queue would hold (malformed or always failing events)."""
    _attempts: dict[str, int] = field(default_factory=dict)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _connected: bool = False

    @property
    def connected(self) -> bool:
        return self._connected

    async def connect(self) -> None:
        self._stopping.clear()
        self._connected = True

    async def publish(self, message: OutboxMessage) -> None:
        attempts = self._attempts.get(message.event_id, 0) + 1
        settlement = await decide(
            message.body.encode(),
            attempts,
            self.handler,
            max_attempts=self.max_attempts,
            stopping=self._stopping,
        )
        if settlement.verdict is Verdict.REQUEUE:
            self._attempts[message.event_id] = attempts
            raise RetryLater(f"event {message.event_id}: {settlement.reason}")
        self._attempts.pop(message.event_id, None)
        if settlement.verdict is Verdict.DEAD_LETTER:
            log.warning("dead-lettered event %s: %s", message.event_id, settlement.reason)
            self.dead_letters.append(
                DeadLetter(message.event_id, message.event_type, settlement.reason)
            )

    async def close(self) -> None:
        # A handler waiting out a database outage gives up, and the row stays in the outbox.
        self._stopping.set()
        self._connected = False

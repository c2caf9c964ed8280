"""The consumer edge: messages in, parsed into contract events, handled, settled.

Settling happens in ONE place (``settle``), from a ``Settlement`` decided by ``decide``:

- ack          the records are committed (or the event was already handled);
- dead-letter  a malformed message (not JSON, unknown type, schema mismatch) at once, or a
               message whose processing failed ``max_attempts`` times; it is published to
               the dead-letter exchange with the reason in ``x-dead-letter-reason``, then
               acked, so it never blocks the queue;
- requeue      processing failed, attempts remain (the quorum queue counts them).

A database outage is not a failure of the message: the handler is retried in place with
backoff, holding the message unacknowledged, so an outage delays events but dead-letters none.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import aio_pika
from aio_pika.abc import (
    AbstractIncomingMessage,
    AbstractRobustChannel,
    AbstractRobustConnection,
)
from pydantic import ValidationError

from incident_contracts import Names, TicketEvent, UserEvent, parse_event
from incident_contracts.names import DEAD_LETTER_REASON_HEADER
from incident_notifier.adapters.amqp_topology import NotifierTopology, declare_topology
from incident_notifier.adapters.prometheus_metrics import NotifierMetrics
from incident_notifier.domain.errors import StoreUnavailable
from incident_notifier.entrypoints.ordering import ArrivalGate
from incident_notifier.service.events import EventOutcome

log = logging.getLogger(__name__)

DELIVERY_COUNT_HEADER = "x-delivery-count"
"""Set by quorum queues on redelivery: how many times the message was delivered before."""
_MAX_REASON = 500


class EventHandler(Protocol):
    async def handle(self, event: TicketEvent | UserEvent) -> EventOutcome: ...


class Verdict(StrEnum):
    ACK = "ack"
    DEAD_LETTER = "dead_letter"
    REQUEUE = "requeue"


@dataclass(frozen=True, slots=True)
class Settlement:
    verdict: Verdict
    reason: str = ""
    event_type: str = "unknown"
    outcome: EventOutcome | None = None


def attempts_of(headers: dict[str, Any] | None) -> int:
    """This delivery's number, 1 for the first (the header counts earlier deliveries)."""
    count = (headers or {}).get(DELIVERY_COUNT_HEADER, 0)
    try:
        return int(count) + 1
    except (TypeError, ValueError):
        return 1


def _summary(error: ValidationError) -> str:
    first = error.errors()[0] if error.errors() else {"msg": str(error), "loc": ()}
    where = ".".join(str(part) for part in first.get("loc", ()))
    return f"{first['msg']} at {where or 'the top level'} ({error.error_count()} problem(s))"


async def decide(
    body: bytes,
    attempts: int,
    handler: EventHandler,
    *,
    max_attempts: int,
    stopping: asyncio.Event,
    retry_delay: float = 0.2,
    max_retry_delay: float = 5.0,
) -> Settlement:
    try:
        event = parse_event(body)
    except ValidationError as error:
        return Settlement(Verdict.DEAD_LETTER, f"malformed message: {_summary(error)}")
    event_type = event.event_type.value
    delay = retry_delay
    while True:
        try:
            outcome = await handler.handle(event)
        except StoreUnavailable as error:
            if stopping.is_set():
                return Settlement(Verdict.REQUEUE, "database unavailable at shutdown", event_type)
            log.warning("database unavailable, retrying %s in %.1fs: %s", event_type, delay, error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), delay)
            delay = min(delay * 2, max_retry_delay)
            continue
        except Exception as error:
            log.exception(
                "handling %s %s failed (attempt %d)", event_type, event.event_id, attempts
            )
            reason = f"failed {attempts} time(s): {type(error).__name__}: {error}"
            if attempts >= max_attempts:
                return Settlement(Verdict.DEAD_LETTER, reason, event_type)
            return Settlement(Verdict.REQUEUE, reason, event_type)
        return Settlement(Verdict.ACK, event_type=event_type, outcome=outcome)


async def settle(
    message: AbstractIncomingMessage,
    settlement: Settlement,
    dead_letters: aio_pika.abc.AbstractExchange,
    attempts: int,
) -> None:
    """The one place a message is acked, dead-lettered or requeued."""
    if settlement.verdict is Verdict.ACK:
        await message.ack()
        return
    if settlement.verdict is Verdict.REQUEUE:
        await message.nack(requeue=True)
        return
    reason = settlement.reason[:_MAX_REASON]
    headers = {
        **(message.headers or {}),
        DEAD_LETTER_REASON_HEADER: reason,
        "x-original-routing-key": message.routing_key or "",
        "x-original-exchange": message.exchange or "",
        "x-attempts": attempts,
    }
    try:
        # The channel has publisher confirms: the dead letter is stored before the ack.
        await dead_letters.publish(
            aio_pika.Message(
                message.body,
                headers=headers,
                message_id=message.message_id,
                content_type=message.content_type,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=message.routing_key or "",
        )
    except Exception:
        log.exception("could not dead-letter message %s; requeueing it", message.message_id)
        await message.nack(requeue=True)
        return
    log.warning("dead-lettered message %s: %s", message.message_id, reason)
    await message.ack()


class EventConsumer:
    """Consumes the notifier's queue with a robust (self-reconnecting) connection."""

    def __init__(
        self,
        amqp_url: str,
        names: Names,
        handler: EventHandler,
        metrics: NotifierMetrics,
        *,
        prefetch: int,
        max_attempts: int,
    ) -> None:
        self._url = amqp_url
        self._names = names
        self._handler = handler
        self._metrics = metrics
        self._prefetch = prefetch
        self._max_attempts = max_attempts
        self._stopping = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._gate = ArrivalGate()
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractRobustChannel | None = None
        self._topology: NotifierTopology | None = None
        self._consumer_tag: str | None = None

    @property
    def consuming(self) -> bool:
        connection = self._connection
        return (
            self._consumer_tag is not None
            and connection is not None
            and connection.connected.is_set()
        )

    async def start(self) -> None:
        """Connect (retrying with backoff while the broker is away), declare, consume."""
        delay = 0.5
        while not self._stopping.is_set():
            try:
                self._connection = await aio_pika.connect_robust(
                    self._url,
                    reconnect_interval=1.0,
                    client_properties={"connection_name": "notifier-consumer"},
                )
                break
            except (OSError, aio_pika.exceptions.AMQPError) as error:
                log.warning("broker unavailable (%s); retrying in %.1fs", error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        if self._connection is None:
            return
        channel = await self._connection.channel(publisher_confirms=True)
        assert isinstance(channel, AbstractRobustChannel)
        self._channel = channel
        await channel.set_qos(prefetch_count=self._prefetch)
        self._topology = await declare_topology(channel, self._names)
        self._consumer_tag = await self._topology.queue.consume(self._on_message)
        log.info(
            "consuming %s (prefetch %d, dead-letter after %d attempts)",
            self._names.notifier_queue,
            self._prefetch,
            self._max_attempts,
        )

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        # user.* events are barriers: see ``ordering``. The gate is entered before any await,
        # so in the order the messages arrived.
        exclusive = (message.routing_key or "").startswith("user.")
        try:
            async with self._gate.passage(exclusive=exclusive):
                await self._process(message)
        finally:
            if task is not None:
                self._in_flight.discard(task)

    async def _process(self, message: AbstractIncomingMessage) -> None:
        assert self._topology is not None
        attempts = attempts_of(message.headers)
        settlement = await decide(
            message.body,
            attempts,
            self._handler,
            max_attempts=self._max_attempts,
            stopping=self._stopping,
        )
        if settlement.verdict is Verdict.REQUEUE and not self._stopping.is_set():
            # A little patience before the broker hands it out again.
            await asyncio.sleep(min(0.1 * attempts, 1.0))
        try:
            await settle(message, settlement, self._topology.dead_letters, attempts)
        except Exception as error:
            # The channel went away: the broker redelivers the message, and the processed
            # events table makes the second handling a no-op.
            log.warning("could not settle message %s: %s", message.message_id, error)
            return
        self._record_metrics(settlement)

    def _record_metrics(self, settlement: Settlement) -> None:
        self._metrics.events_consumed.labels(settlement.event_type, settlement.verdict.value).inc()
        if settlement.verdict is Verdict.DEAD_LETTER:
            kind = "malformed" if settlement.reason.startswith("malformed") else "failed"
            self._metrics.dead_lettered.labels(kind).inc()
        outcome = settlement.outcome
        if outcome is not None and outcome.records_written:
            self._metrics.records_written.inc(outcome.records_written)
            self._metrics.routed.inc(outcome.routed)
            if outcome.commit_delay_seconds is not None:
                self._metrics.commit_delay.observe(max(outcome.commit_delay_seconds, 0.0))

    async def stop(self, grace: float) -> None:
        """Stop taking messages, let those in hand finish (up to ``grace`` s), disconnect.

        Whatever is still unacknowledged when the connection closes goes back to the queue.
        """
        self._stopping.set()
        if self._topology is not None and self._consumer_tag is not None:
            with contextlib.suppress(Exception):
                await self._topology.queue.cancel(self._consumer_tag)
        self._consumer_tag = None
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=grace)
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()

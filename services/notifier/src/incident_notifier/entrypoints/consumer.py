"""The consumer edge: messages in, parsed into contract events, handled, settled.

Messages are handled in arrival order by one worker, in batches of whatever is waiting
(up to ``batch_size``): consecutive ticket events share one transaction, so the commit's
cost is paid once per batch, and a lone message is still handled at once.

Settling happens in ONE place (``settle``), from the ``Settlement`` that ``decide`` gives
each message:

- ack          its records are committed (or the event was already handled);
- dead-letter  a malformed message (not JSON, unknown type, schema mismatch) at once, or a
               message whose processing failed ``max_attempts`` times; it is published to
               the dead-letter exchange with the reason in ``x-dead-letter-reason``, then
               acked, so it never blocks the queue;
- requeue      processing failed, attempts remain (the quorum queue counts them).

When a batch fails, its messages are retried one by one, so one bad message does not take
its neighbours down with it. A database outage is not a failure of the messages: the batch
is retried in place with backoff, unacknowledged, so an outage delays events but
dead-letters none.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

import aio_pika
from aio_pika.abc import (
    AbstractExchange,
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
from incident_notifier.service.events import BatchOutcome, EventOutcome

log = logging.getLogger(__name__)

DELIVERY_COUNT_HEADER = "x-delivery-count"
"""Set by quorum queues on redelivery: how many times the message was delivered before."""
_MAX_REASON = 500


class EventHandler(Protocol):
    async def handle(self, event: TicketEvent | UserEvent) -> EventOutcome: ...


@runtime_checkable
class BatchEventHandler(EventHandler, Protocol):
    """A handler that can take several events in one go (``EventProcessor``); others are
    given one event at a time."""

    async def handle_many(self, events: Sequence[TicketEvent | UserEvent]) -> BatchOutcome: ...


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


@dataclass(frozen=True, slots=True)
class Decisions:
    settlements: list[Settlement]
    """One per message, in the order given."""
    routed: int = 0


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
    """How to settle one message (its body and delivery number), after handling it."""
    decisions = await decide_many(
        [(body, attempts)],
        handler,
        max_attempts=max_attempts,
        stopping=stopping,
        retry_delay=retry_delay,
        max_retry_delay=max_retry_delay,
    )
    return decisions.settlements[0]


async def decide_many(
    messages: Sequence[tuple[bytes, int]],
    handler: EventHandler,
    *,
    max_attempts: int,
    stopping: asyncio.Event,
    retry_delay: float = 0.2,
    max_retry_delay: float = 5.0,
) -> Decisions:
    """How to settle each ``(body, attempt number)``, after handling what parses."""
    settlements: list[Settlement | None] = [None] * len(messages)
    parsed: list[tuple[int, TicketEvent | UserEvent, int]] = []
    for index, (body, attempts) in enumerate(messages):
        try:
            parsed.append((index, parse_event(body), attempts))
        except ValidationError as error:
            reason = f"malformed message: {_summary(error)}"
            settlements[index] = Settlement(Verdict.DEAD_LETTER, reason)
    routed = 0
    if parsed:
        batching = isinstance(handler, BatchEventHandler)
        groups = [parsed] if batching else [[item] for item in parsed]
        while groups:
            group = groups.pop(0)
            try:
                results, batch_routed = await _handle(
                    group, handler, stopping, retry_delay, max_retry_delay
                )
            except _BatchFailed as failure:
                if len(group) > 1:
                    # Retry one by one: only the message at fault pays for the failure.
                    groups = [[item] for item in group] + groups
                    continue
                results = [_failed(group[0], failure.error, max_attempts)]
                batch_routed = 0
            routed += batch_routed
            for (index, _event, _attempts), settlement in zip(group, results, strict=True):
                settlements[index] = settlement
    return Decisions([s for s in settlements if s is not None], routed)


class _BatchFailed(Exception):
    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


async def _handle(
    group: list[tuple[int, TicketEvent | UserEvent, int]],
    handler: EventHandler,
    stopping: asyncio.Event,
    retry_delay: float,
    max_retry_delay: float,
) -> tuple[list[Settlement], int]:
    events = [event for _index, event, _attempts in group]
    delay = retry_delay
    while True:
        try:
            if isinstance(handler, BatchEventHandler):
                outcome = await handler.handle_many(events)
            else:
                outcome = BatchOutcome([await handler.handle(event) for event in events])
        except StoreUnavailable as error:
            if stopping.is_set():
                reason = "database unavailable at shutdown"
                return [Settlement(Verdict.REQUEUE, reason, e.event_type.value) for e in events], 0
            log.warning(
                "database unavailable, retrying %d event(s) in %.1fs: %s", len(events), delay, error
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), delay)
            delay = min(delay * 2, max_retry_delay)
            continue
        except Exception as error:
            raise _BatchFailed(error) from error
        settlements = [
            Settlement(Verdict.ACK, event_type=event.event_type.value, outcome=result)
            for event, result in zip(events, outcome.events, strict=True)
        ]
        return settlements, outcome.routed


def _failed(
    item: tuple[int, TicketEvent | UserEvent, int], error: Exception, max_attempts: int
) -> Settlement:
    _index, event, attempts = item
    event_type = event.event_type.value
    log.error(
        "handling %s %s failed (attempt %d of %d): %s: %s",
        event_type,
        event.event_id,
        attempts,
        max_attempts,
        type(error).__name__,
        error,
    )
    reason = f"failed {attempts} time(s): {type(error).__name__}: {error}"
    verdict = Verdict.DEAD_LETTER if attempts >= max_attempts else Verdict.REQUEUE
    return Settlement(verdict, reason, event_type)


async def settle(
    message: AbstractIncomingMessage,
    settlement: Settlement,
    dead_letters: AbstractExchange,
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
        batch_size: int = 32,
    ) -> None:
        self._url = amqp_url
        self._names = names
        self._handler = handler
        self._metrics = metrics
        self._prefetch = prefetch
        self._batch_size = batch_size
        self._max_attempts = max_attempts
        self._stopping = asyncio.Event()
        self._waiting: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._later: set[asyncio.Task[None]] = set()
        self._connection: AbstractRobustConnection | None = None
        self._topology: NotifierTopology | None = None
        self._consumer_tag: str | None = None

    @property
    def consuming(self) -> bool:
        connection = self._connection
        if self._consumer_tag is None or connection is None:
            return False
        return connection.connected.is_set()

    async def start(self) -> None:
        """Connect, declare and consume, retrying with backoff while the broker is away.

        Once consuming, the robust connection reconnects by itself and restores the
        channel, its QoS, the declarations and the consumer.
        """
        delay = 0.5
        while not self._stopping.is_set():
            try:
                await self._connect_and_consume()
                return
            except (OSError, TimeoutError, aio_pika.exceptions.AMQPError) as error:
                log.warning("broker unavailable (%r); retrying in %.1fs", error, delay)
                if self._connection is not None:
                    with contextlib.suppress(Exception):
                        await self._connection.close()
                    self._connection = None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
                delay = min(delay * 2, 10.0)

    async def _connect_and_consume(self) -> None:
        self._connection = await aio_pika.connect_robust(
            self._url,
            reconnect_interval=1.0,
            client_properties={"connection_name": "notifier-consumer"},
        )
        channel = await self._connection.channel(publisher_confirms=True)
        assert isinstance(channel, AbstractRobustChannel)
        await channel.set_qos(prefetch_count=self._prefetch)
        self._topology = await declare_topology(channel, self._names)
        if self._worker is None:
            self._worker = asyncio.create_task(self._work())
        self._consumer_tag = await self._topology.queue.consume(self._on_message)
        log.info(
            "consuming %s (prefetch %d, batches of up to %d, dead-letter after %d attempts)",
            self._names.notifier_queue,
            self._prefetch,
            self._batch_size,
            self._max_attempts,
        )

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        # Arrival order is kept: one worker takes messages from this queue in turn.
        self._waiting.put_nowait(message)

    async def _work(self) -> None:
        while not self._stopping.is_set():
            batch = [await self._waiting.get()]
            while len(batch) < self._batch_size and not self._waiting.empty():
                batch.append(self._waiting.get_nowait())
            self._idle.clear()
            try:
                await self._process(batch)
            except Exception as error:
                # Settling failed (the channel went away): the broker redelivers those
                # messages, and the processed events table makes a second pass a no-op.
                log.warning(
                    "%d message(s) left unsettled, the broker will deliver them again: %r",
                    len(batch),
                    error,
                )
            finally:
                self._idle.set()

    async def _process(self, batch: list[AbstractIncomingMessage]) -> None:
        assert self._topology is not None
        attempts = [attempts_of(message.headers) for message in batch]
        decisions = await decide_many(
            [(message.body, n) for message, n in zip(batch, attempts, strict=True)],
            self._handler,
            max_attempts=self._max_attempts,
            stopping=self._stopping,
        )
        self._metrics.routed.inc(decisions.routed)
        for message, settlement, n in zip(batch, decisions.settlements, attempts, strict=True):
            if settlement.verdict is Verdict.REQUEUE and not self._stopping.is_set():
                # A little patience before the broker hands it out again, without holding
                # up the messages behind it.
                task = asyncio.create_task(self._settle_later(message, settlement, n))
                self._later.add(task)
                task.add_done_callback(self._later.discard)
                continue
            await settle(message, settlement, self._topology.dead_letters, n)
            self._record_metrics(settlement)

    async def _settle_later(
        self, message: AbstractIncomingMessage, settlement: Settlement, attempts: int
    ) -> None:
        assert self._topology is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), min(0.1 * attempts, 1.0))
        try:
            await settle(message, settlement, self._topology.dead_letters, attempts)
        except Exception as error:
            log.warning("could not requeue message %s: %s", message.message_id, error)
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
            if outcome.commit_delay_seconds is not None:
                self._metrics.commit_delay.observe(max(outcome.commit_delay_seconds, 0.0))

    async def stop(self, grace: float) -> None:
        """Stop taking messages, let the batch in hand finish (up to ``grace`` s), disconnect.

        Whatever is still unacknowledged when the connection closes goes back to the queue.
        """
        self._stopping.set()
        if self._topology is not None and self._consumer_tag is not None:
            with contextlib.suppress(Exception):
                await self._topology.queue.cancel(self._consumer_tag)
        self._consumer_tag = None
        if self._worker is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), grace)
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        if self._later:
            await asyncio.wait(set(self._later), timeout=grace)
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()

"""How each message is settled, decided without a broker."""

import asyncio
import json

import pytest

from incident_contracts import EventType, Role, TicketEvent, UserEvent
from incident_notifier.domain.errors import StoreUnavailable
from incident_notifier.entrypoints.consumer import (
    EventHandler,
    Settlement,
    Verdict,
    attempts_of,
    decide,
    decide_many,
)
from incident_notifier.service.events import EventOutcome, EventProcessor
from incident_notifier.testing import (
    InMemoryDeliveryRouter,
    InMemoryNotificationStore,
    InMemoryUserDirectory,
    ticket_event,
    ticket_snapshot,
    user_event,
)


class Exploding:
    """A handler whose processing fails, as a bug in it would."""

    def __init__(self) -> None:
        self.calls = 0

    async def handle(self, event: TicketEvent | UserEvent) -> EventOutcome:
        self.calls += 1
        raise RuntimeError("boom")


class Flaky:
    """A handler whose database is away for the first ``outages`` calls."""

    def __init__(self, outages: int) -> None:
        self.outages = outages
        self.calls = 0

    async def handle(self, event: TicketEvent | UserEvent) -> EventOutcome:
        self.calls += 1
        if self.calls <= self.outages:
            raise StoreUnavailable("connection refused")
        return EventOutcome(event.event_type.value, records_written=1)


GOOD = ticket_event(EventType.TICKET_CREATED, ticket_snapshot(), actor_id=2)
STOP = asyncio.Event()


async def one(
    body: bytes,
    attempts: int,
    handler: EventHandler,
    *,
    max_attempts: int = 5,
    stopping: asyncio.Event = STOP,
    retry_delay: float = 0.2,
) -> Settlement:
    """Decide a single message."""
    return await decide(
        body,
        attempts,
        handler,
        max_attempts=max_attempts,
        stopping=stopping,
        retry_delay=retry_delay,
    )


def processor() -> EventProcessor:
    return EventProcessor(
        InMemoryNotificationStore(), InMemoryUserDirectory(), InMemoryDeliveryRouter()
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "malformed message: Invalid JSON"),
        (b"[1, 2]", "malformed message: Input should be an object"),
        (json.dumps({"event_type": "ticket.exploded"}).encode(), "malformed message: "),
        (GOOD.model_dump_json().replace('"id":1', '"id":"one"').encode(), "malformed message: "),
        (b"\xff\xfe", "malformed message: "),
    ],
)
async def test_malformed_messages_are_dead_lettered_at_once(body: bytes, reason: str) -> None:
    settlement = await one(body, 1, processor())
    assert settlement.verdict is Verdict.DEAD_LETTER
    assert settlement.reason.startswith(reason)


async def test_a_good_message_is_acked_with_its_outcome() -> None:
    handler = processor()
    await handler.handle(user_event(1, Role.ADMIN, "Ann"))
    settlement = await one(GOOD.model_dump_json().encode(), 1, handler)
    assert settlement.verdict is Verdict.ACK
    assert settlement.event_type == "ticket.created"
    assert settlement.outcome is not None
    assert settlement.outcome.records_written == 1


async def test_a_failing_message_is_requeued_until_its_last_attempt_then_dead_lettered() -> None:
    body = GOOD.model_dump_json().encode()
    verdicts = [(await one(body, n, Exploding(), max_attempts=3)).verdict for n in (1, 2, 3)]
    assert verdicts == [Verdict.REQUEUE, Verdict.REQUEUE, Verdict.DEAD_LETTER]
    last = await one(body, 3, Exploding(), max_attempts=3)
    assert last.reason == "failed 3 time(s): RuntimeError: boom"


async def test_a_database_outage_is_waited_out_without_spending_attempts() -> None:
    handler = Flaky(outages=3)
    settlement = await one(
        GOOD.model_dump_json().encode(), 1, handler, max_attempts=1, retry_delay=0.001
    )
    assert (settlement.verdict, handler.calls) == (Verdict.ACK, 4)


async def test_a_database_outage_at_shutdown_gives_the_message_back() -> None:
    stopping = asyncio.Event()
    stopping.set()
    settlement = await one(
        GOOD.model_dump_json().encode(), 1, Flaky(outages=100), stopping=stopping
    )
    assert settlement.verdict is Verdict.REQUEUE


def test_attempts_count_from_the_quorum_queue_header() -> None:
    assert attempts_of(None) == 1
    assert attempts_of({}) == 1
    assert attempts_of({"x-delivery-count": 2}) == 3
    assert attempts_of({"x-delivery-count": "junk"}) == 1


async def test_in_a_failing_batch_only_the_bad_message_pays() -> None:
    store = InMemoryNotificationStore()
    handler = EventProcessor(store, InMemoryUserDirectory(), InMemoryDeliveryRouter())
    await handler.handle(user_event(1, Role.ADMIN, "Ann"))
    events = [
        ticket_event(EventType.TICKET_CREATED, ticket_snapshot(id=n), actor_id=2) for n in range(3)
    ]
    store.failing_event_ids.add(events[1].event_id)
    bodies = [(e.model_dump_json().encode(), 1) for e in events] + [(b"junk", 1)]
    decisions = await decide_many(bodies, handler, max_attempts=5, stopping=STOP)
    assert [s.verdict for s in decisions.settlements] == [
        Verdict.ACK,
        Verdict.REQUEUE,
        Verdict.ACK,
        Verdict.DEAD_LETTER,
    ]
    assert [r.content.ticket["id"] for r in store.records] == [0, 2]
    assert [r.seq for r in store.records] == [1, 2]


async def test_a_handler_without_batches_is_given_one_event_at_a_time() -> None:
    handler = Flaky(outages=0)
    bodies = [
        (GOOD.model_dump_json().encode(), 1),
        (b"junk", 1),
        (GOOD.model_dump_json().encode(), 2),
    ]
    decisions = await decide_many(bodies, handler, max_attempts=5, stopping=STOP)
    assert [s.verdict for s in decisions.settlements] == [
        Verdict.ACK,
        Verdict.DEAD_LETTER,
        Verdict.ACK,
    ]
    assert handler.calls == 2

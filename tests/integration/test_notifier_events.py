"""The notifier consumer against real RabbitMQ, PostgreSQL and Redis, fed with contract
events published straight to its exchange (the lifecycle through the real tickets service
is in test_notifier_lifecycle.py).

Each test (or module) gets a namespace of its own, so its queue holds only its events.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any, cast

import aio_pika
import asyncpg
import httpx
import pytest
from harness.infra import Infra, free_port, rabbitmq_stopped
from harness.notifier import (
    RunningNotifier,
    delete_namespace,
    fresh_namespace,
    publish_events,
    start_notifier,
)
from redis.asyncio import Redis

from incident_contracts import EventType, Names, Role, TicketStatus
from incident_contracts.names import DEAD_LETTER_REASON_HEADER
from incident_contracts.notifications import (
    DELIVERY_FRAME_FIELD,
    DELIVERY_ROUTED_AT_FIELD,
    DELIVERY_SEQ_FIELD,
    DELIVERY_USER_FIELD,
)
from incident_notifier.testing import ticket_event, ticket_snapshot, user_event

ADMIN_A, ADMIN_B, CLIENT, DEV_A, DEV_B = 1, 2, 3, 4, 5
NO_TICKETS = "http://127.0.0.1:9"  # nothing listens: these notifiers never call it
USERS = [
    user_event(ADMIN_A, Role.ADMIN, "Ann Admin"),
    user_event(ADMIN_B, Role.ADMIN, "Abe Admin"),
    user_event(CLIENT, Role.CLIENT, "John Client"),
    user_event(DEV_A, Role.DEVELOPER, "Alice Developer"),
    user_event(DEV_B, Role.DEVELOPER, "Bob Support"),
]
NO_SYNC = "false"  # NOTIFIER_DIRECTORY_SYNC: these tests feed the directory with user events


def created(ticket_id: int) -> Any:
    return ticket_event(EventType.TICKET_CREATED, ticket_snapshot(id=ticket_id), actor_id=CLIENT)


def opened(ticket_id: int, creator: int = CLIENT) -> Any:
    snapshot = ticket_snapshot(id=ticket_id, status=TicketStatus.OPENED, created_by_id=creator)
    return ticket_event(EventType.TICKET_OPENED, snapshot, actor_id=ADMIN_A)


def approved(ticket_id: int) -> Any:
    snapshot = ticket_snapshot(
        id=ticket_id, status=TicketStatus.CLOSED, assignee_ids=[DEV_A, DEV_B]
    )
    return ticket_event(EventType.TICKET_APPROVED, snapshot, actor_id=CLIENT)


async def rows(database_url: str) -> list[Any]:
    connection = await asyncpg.connect(database_url)
    try:
        found: list[Any] = await connection.fetch(
            "SELECT user_id, seq, event_id, notification_type FROM notifications"
            " ORDER BY user_id, seq"
        )
        return found
    finally:
        await connection.close()


async def wait_for_rows(database_url: str, count: int, within: float = 60.0) -> list[Any]:
    """Poll until ``count`` records exist (a bounded wait, not a timing assertion)."""
    deadline = time.monotonic() + within
    found: list[Any] = []
    while time.monotonic() < deadline:
        found = await rows(database_url)
        if len(found) >= count:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"expected {count} records, found {len(found)} after {within:.0f}s")


def seqs_by_user(found: list[Any]) -> dict[int, list[int]]:
    result: dict[int, list[int]] = {}
    for row in found:
        result.setdefault(row["user_id"], []).append(row["seq"])
    return result


async def dead_letters(amqp_url: str, namespace: str, count: int) -> list[Any]:
    connection = await aio_pika.connect(amqp_url, timeout=30)
    try:
        channel = await connection.channel()
        queue = await channel.get_queue(Names(namespace).dead_letter_queue)
        found: list[Any] = []
        deadline = time.monotonic() + 60
        while len(found) < count and time.monotonic() < deadline:
            message = await queue.get(no_ack=True, fail=False)
            if message is None:
                await asyncio.sleep(0.1)
                continue
            found.append(message)
        return found
    finally:
        await connection.close()


async def queue_depth(amqp_url: str, namespace: str) -> int:
    connection = await aio_pika.connect(amqp_url, timeout=30)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(Names(namespace).notifier_queue, passive=True)
        assert queue.declaration_result.message_count is not None
        return queue.declaration_result.message_count
    finally:
        await connection.close()


def http_status(url: str) -> int:
    return httpx.get(url, timeout=5).status_code


def metric(url: str, name: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    match = re.search(rf"^{name} ([0-9.e+]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def stream_entries(redis: Redis, key: str) -> list[tuple[str, dict[str, str]]]:
    return cast(list[tuple[str, dict[str, str]]], await redis.xrange(key))


def standalone_notifier(infra: Infra, namespace: str, **env: str) -> RunningNotifier:
    """The notifier alone in its own namespace: no tickets service, the directory comes
    from the user events these tests publish."""
    return start_notifier(
        infra,
        NO_TICKETS,
        name=f"notifier-{namespace}",
        start_consumer=True,
        INCIDENT_NAMESPACE=namespace,
        NOTIFIER_DIRECTORY_SYNC=NO_SYNC,
        **env,
    )


@pytest.fixture(scope="module")
def shared(infra: Infra) -> Iterator[tuple[RunningNotifier, str]]:
    """One notifier for the tests that do not kill it; three attempts before dead-lettering."""
    namespace = fresh_namespace(infra)
    notifier = standalone_notifier(infra, namespace, NOTIFIER_MAX_ATTEMPTS="3")
    asyncio.run(publish_events(infra.amqp_url, namespace, USERS))
    try:
        yield notifier, namespace
    finally:
        notifier.stop()
        asyncio.run(delete_namespace(infra.amqp_url, namespace))


@pytest.fixture
async def own_namespace(infra: Infra) -> AsyncIterator[str]:
    namespace = fresh_namespace(infra)
    yield namespace
    await delete_namespace(infra.amqp_url, namespace)


def replay(notifier: RunningNotifier, user_id: int, after_seq: int = 0) -> dict[str, Any]:
    response = httpx.get(
        f"{notifier.url}/internal/notifications/{user_id}/",
        params={"after_seq": after_seq, "limit": 200},
        timeout=10,
    )
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def test_publishing_the_same_event_twice_creates_nothing_new(
    infra: Infra, shared: tuple[RunningNotifier, str]
) -> None:
    notifier, namespace = shared
    before = len(await rows(notifier.database_url))
    event = created(100)
    # The duplicate is followed by a marker event: once the marker's records exist, the
    # duplicate before it has been handled too (user events are barriers, see ordering).
    marker = user_event(99, Role.CLIENT, "Marker")
    await publish_events(infra.amqp_url, namespace, [event, event, marker, opened(101)])
    found = await wait_for_rows(notifier.database_url, before + 3)
    mine = [r for r in found if r["event_id"] == event.event_id]
    assert sorted(r["user_id"] for r in mine) == [ADMIN_A, ADMIN_B]
    assert len(found) == before + 3


async def test_a_poison_message_is_dead_lettered_and_the_next_one_processed(
    infra: Infra, shared: tuple[RunningNotifier, str]
) -> None:
    notifier, namespace = shared
    before = len(await rows(notifier.database_url))
    poison = b'{"event_type": "ticket.created", "payload": "not a ticket"}'
    good = opened(200)
    await publish_events(infra.amqp_url, namespace, [("ticket.created", poison), good])
    found = await wait_for_rows(notifier.database_url, before + 1)
    assert [
        (r["user_id"], r["notification_type"]) for r in found if r["event_id"] == good.event_id
    ] == [(CLIENT, "ticket_opened")]
    [letter] = await dead_letters(infra.amqp_url, namespace, 1)
    assert letter.body == poison
    assert letter.routing_key == "ticket.created"
    assert str(letter.headers[DEAD_LETTER_REASON_HEADER]).startswith("malformed message: ")
    assert metric(notifier.consumer_url, 'notifier_dead_lettered_total{reason="malformed"}') == 1


async def test_a_message_that_keeps_failing_is_dead_lettered_after_the_set_attempts(
    infra: Infra, shared: tuple[RunningNotifier, str]
) -> None:
    notifier, namespace = shared
    before = len(await rows(notifier.database_url))
    # Valid by the contract, but its creator id does not fit the database's BIGINT: the
    # transaction fails every time it is tried.
    failing = opened(300, creator=2**63)
    good = opened(301)
    await publish_events(infra.amqp_url, namespace, [failing, good])
    [letter] = await dead_letters(infra.amqp_url, namespace, 1)
    assert letter.message_id == str(failing.event_id)
    assert json.loads(letter.body)["event_id"] == str(failing.event_id)
    assert str(letter.headers[DEAD_LETTER_REASON_HEADER]).startswith("failed 3 time(s): ")
    assert letter.headers["x-attempts"] == 3
    found = await wait_for_rows(notifier.database_url, before + 1)
    assert not [r for r in found if r["event_id"] == failing.event_id]
    assert [r["user_id"] for r in found if r["event_id"] == good.event_id] == [CLIENT]
    assert await queue_depth(infra.amqp_url, namespace) == 0


async def test_records_are_routed_only_to_the_gateways_holding_the_recipient(
    infra: Infra, shared: tuple[RunningNotifier, str]
) -> None:
    notifier, namespace = shared
    names = Names(namespace)
    redis = Redis.from_url(infra.redis_url, decode_responses=True)
    now_ms = int(time.time() * 1000)
    try:
        await redis.zadd(names.presence_key(CLIENT), {"gw-live": now_ms + 60_000})
        await redis.zadd(names.presence_key(CLIENT), {"gw-gone": now_ms - 1_000})
        await redis.zadd(names.presence_key(DEV_A), {"gw-other": now_ms + 60_000})
        before = len(await rows(notifier.database_url))
        event = opened(400)  # to the client only; DEV_A's gateway must receive nothing
        await publish_events(infra.amqp_url, namespace, [event])
        await wait_for_rows(notifier.database_url, before + 1)
        record = replay(notifier, CLIENT)["results"][-1]
        entries = await stream_entries(redis, names.gateway_stream("gw-live"))
        assert [fields[DELIVERY_USER_FIELD] for _, fields in entries] == [str(CLIENT)]
        fields = entries[0][1]
        assert fields[DELIVERY_SEQ_FIELD] == str(record["seq"])
        assert json.loads(fields[DELIVERY_FRAME_FIELD]) == record
        assert int(fields[DELIVERY_ROUTED_AT_FIELD]) >= now_ms
        assert await redis.pttl(names.gateway_stream("gw-live")) > 0
        assert await redis.exists(names.gateway_stream("gw-gone")) == 0
        assert await redis.exists(names.gateway_stream("gw-other")) == 0
    finally:
        keys = [k async for k in redis.scan_iter(match=f"{namespace}:*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


async def test_a_sigkill_in_the_middle_of_a_burst_loses_and_repeats_nothing(
    infra: Infra, own_namespace: str
) -> None:
    notifier = standalone_notifier(
        infra,
        own_namespace,
        # Small batches keep the burst long enough to be killed in the middle of it.
        NOTIFIER_PREFETCH="2",
        NOTIFIER_BATCH_SIZE="2",
    )
    with notifier:
        await publish_events(infra.amqp_url, own_namespace, USERS)
        burst = [created(1000 + n) for n in range(200)]
        await publish_events(infra.amqp_url, own_namespace, burst)
        await wait_for_rows(notifier.database_url, 50)
        notifier.consumer.kill()
        at_kill = len(await rows(notifier.database_url))
        assert at_kill < 400, "the burst was over before the kill; nothing was tested"
        notifier.consumer.start()
        found = await wait_for_rows(notifier.database_url, 400)
        assert await queue_depth(infra.amqp_url, own_namespace) == 0
    expected = {(e.event_id, admin) for e in burst for admin in (ADMIN_A, ADMIN_B)}
    assert len(found) == 400
    assert {(r["event_id"], r["user_id"]) for r in found} == expected
    assert seqs_by_user(found) == {ADMIN_A: list(range(1, 201)), ADMIN_B: list(range(1, 201))}


async def test_two_consumer_processes_give_gap_free_seq_per_user(
    infra: Infra, own_namespace: str
) -> None:
    notifier = standalone_notifier(
        infra,
        own_namespace,
        NOTIFIER_PREFETCH="8",
    )
    with notifier:
        second = notifier.add_consumer()
        await publish_events(infra.amqp_url, own_namespace, USERS)
        events = [make(n) for n in range(70) for make in (created, opened, approved)]
        await publish_events(infra.amqp_url, own_namespace, events)
        # created: 2 admins; opened: the client; approved: 2 admins + 2 developers.
        found = await wait_for_rows(notifier.database_url, 70 * 7)
        first_wrote = metric(notifier.consumer_url, "notifier_records_written_total")
        second_url = second.health_url.removesuffix("/readyz")
        second_wrote = metric(second_url, "notifier_records_written_total")
    assert len(found) == 490
    assert seqs_by_user(found) == {
        ADMIN_A: list(range(1, 141)),
        ADMIN_B: list(range(1, 141)),
        CLIENT: list(range(1, 71)),
        DEV_A: list(range(1, 71)),
        DEV_B: list(range(1, 71)),
    }
    assert first_wrote > 0
    assert second_wrote > 0
    assert first_wrote + second_wrote == 490


async def test_records_are_written_while_redis_is_unreachable_and_sigterm_is_clean(
    infra: Infra, own_namespace: str
) -> None:
    notifier = standalone_notifier(
        infra,
        own_namespace,
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
    )
    with notifier:
        await publish_events(infra.amqp_url, own_namespace, USERS)
        await publish_events(infra.amqp_url, own_namespace, [opened(n) for n in range(20)])
        found = await wait_for_rows(notifier.database_url, 20)
        assert http_status(f"{notifier.consumer_url}/readyz") == 200
        # SIGTERM is a clean shutdown for both processes.
        assert notifier.consumer.terminate() == 0
        assert notifier.api.terminate() == 0
    assert seqs_by_user(found) == {CLIENT: list(range(1, 21))}
    assert uuid.UUID(str(found[0]["event_id"]))


async def test_a_broker_restart_mid_burst_loses_and_repeats_nothing(
    infra: Infra, own_namespace: str
) -> None:
    notifier = standalone_notifier(
        infra,
        own_namespace,
        NOTIFIER_PREFETCH="1",
        NOTIFIER_BATCH_SIZE="1",
    )
    with notifier:
        await publish_events(infra.amqp_url, own_namespace, USERS)
        # One event per transaction, so the burst is likely (not certain) to be in flight
        # when the broker stops; what is asserted holds either way.
        burst = [created(2000 + n) for n in range(150)]
        await publish_events(infra.amqp_url, own_namespace, burst)
        await wait_for_rows(notifier.database_url, 20)
        with rabbitmq_stopped(infra.amqp_url):
            # The consumer noticed: it reports itself not ready while the broker is away.
            deadline = time.monotonic() + 30
            while http_status(f"{notifier.consumer_url}/readyz") != 503:
                assert time.monotonic() < deadline, "the consumer never noticed the outage"
                await asyncio.sleep(0.2)
        after = [created(3000 + n) for n in range(10)]
        await publish_events(infra.amqp_url, own_namespace, after)
        found = await wait_for_rows(notifier.database_url, 320, within=120)
        assert await queue_depth(infra.amqp_url, own_namespace) == 0
        assert http_status(f"{notifier.consumer_url}/readyz") == 200
    expected = {(e.event_id, admin) for e in [*burst, *after] for admin in (ADMIN_A, ADMIN_B)}
    assert len(found) == 320
    assert {(r["event_id"], r["user_id"]) for r in found} == expected
    assert seqs_by_user(found) == {ADMIN_A: list(range(1, 161)), ADMIN_B: list(range(1, 161))}

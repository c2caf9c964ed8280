"""ONE contract suite for presence and routing, run over the dev mode's in-process stand-in
and over the real Redis adapters, so the two cannot drift apart.

Both sides of what Redis does between the services are covered: the gateway's
``PresenceStore`` and ``DeliveryFeed`` ports and the notifier's ``DeliveryRouter`` port.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
from harness.infra import Infra
from redis.asyncio import Redis

from incident_contracts import Delivery, Names
from incident_devmode.inprocess_routing import InProcessRouting
from incident_gateway.adapters.redis_deliveries import RedisDeliveryFeed
from incident_gateway.adapters.redis_presence import RedisPresenceStore
from incident_gateway.service.ports import DeliveryFeed, PresenceStore
from incident_gateway.service.routing import RoutedDelivery, parse_entry
from incident_notifier.adapters.redis_router import RedisDeliveryRouter
from incident_notifier.service.ports import DeliveryRouter

TTL_MS = 60_000


@dataclass
class Routing:
    """What the contract talks to: the notifier's router, and per gateway instance its
    presence store and delivery feed."""

    router: DeliveryRouter
    presence: Callable[[str], PresenceStore]
    feed: Callable[[str], DeliveryFeed]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@pytest.fixture(params=["in-process", "redis"])
async def routing(request: pytest.FixtureRequest, infra: Infra) -> AsyncIterator[Routing]:
    if request.param == "in-process":
        stand_in = InProcessRouting()
        yield Routing(stand_in, stand_in.presence, stand_in.feed)
        return
    names = Names(f"{infra.namespace}-routing-{secrets.token_hex(3)}")
    decoded = Redis.from_url(infra.redis_url, decode_responses=True)
    raw = Redis.from_url(infra.redis_url)
    try:
        yield Routing(
            RedisDeliveryRouter(decoded, names),
            lambda instance: RedisPresenceStore(raw, names, instance),
            lambda instance: RedisDeliveryFeed(raw, names.gateway_stream(instance)),
        )
    finally:
        keys = [key async for key in raw.scan_iter(match=f"{names.namespace}:*")]
        if keys:
            await raw.delete(*keys)
        await decoded.aclose()
        await raw.aclose()


def delivery(user_id: int, seq: int) -> Delivery:
    return Delivery(user_id=user_id, seq=seq, frame=f'{{"seq":{seq},"user":{user_id}}}')


async def routed(feed: DeliveryFeed, after: str) -> list[RoutedDelivery]:
    entries = await feed.read_after(after, 100, 100)
    parsed = [parse_entry(fields) for _, fields in entries]
    assert None not in parsed, "every entry is a delivery"
    return [item for item in parsed if item is not None]


async def test_a_delivery_reaches_exactly_the_instances_holding_its_user(
    routing: Routing,
) -> None:
    feed_a, feed_b = routing.feed("gw-a"), routing.feed("gw-b")
    start_a, start_b = await feed_a.current_end(), await feed_b.current_end()
    await routing.presence("gw-a").register([1, 2], now_ms() + TTL_MS, TTL_MS)
    await routing.presence("gw-b").register([2], now_ms() + TTL_MS, TTL_MS)

    before = now_ms()
    written = await routing.router.route([delivery(1, 7), delivery(2, 3), delivery(3, 1)])
    after = now_ms()

    assert written == 3  # user 1 -> a; user 2 -> a and b; user 3 -> nobody
    at_a = await routed(feed_a, start_a)
    at_b = await routed(feed_b, start_b)
    assert [(d.user_id, d.seq, d.frame) for d in at_a] == [
        (1, 7, b'{"seq":7,"user":1}'),
        (2, 3, b'{"seq":3,"user":2}'),
    ]
    assert [(d.user_id, d.seq, d.frame) for d in at_b] == [(2, 3, b'{"seq":3,"user":2}')]
    for item in at_a + at_b:
        assert item.routed_at_ms is not None
        assert before <= item.routed_at_ms <= after


async def test_nobody_present_means_nothing_routed(routing: Routing) -> None:
    feed = routing.feed("gw-a")
    start = await feed.current_end()
    assert await routing.router.route([delivery(41, 1)]) == 0
    assert await routed(feed, start) == []


async def test_an_expired_presence_is_not_a_destination(routing: Routing) -> None:
    feed = routing.feed("gw-a")
    start = await feed.current_end()
    # A gateway that stopped heartbeating: its score lies in the past.
    await routing.presence("gw-a").register([5], now_ms() - 1_000, TTL_MS)
    assert await routing.router.route([delivery(5, 1)]) == 0
    assert await routed(feed, start) == []


async def test_after_the_last_disconnect_nothing_is_routed(routing: Routing) -> None:
    presence = routing.presence("gw-a")
    feed = routing.feed("gw-a")
    start = await feed.current_end()
    await presence.register([6, 7], now_ms() + TTL_MS, TTL_MS)
    await presence.unregister([6])
    assert await routing.router.route([delivery(6, 1), delivery(7, 1)]) == 1
    assert [d.user_id for d in await routed(feed, start)] == [7]


async def test_presence_knows_it_was_registered(routing: Routing) -> None:
    presence = routing.presence("gw-a")
    await presence.ping()
    await presence.register([8], now_ms() + TTL_MS, TTL_MS)
    assert await presence.intact() is True


async def test_a_read_waits_for_the_next_entry_and_resumes_after_it(routing: Routing) -> None:
    feed = routing.feed("gw-a")
    start = await feed.current_end()
    await routing.presence("gw-a").register([9], now_ms() + TTL_MS, TTL_MS)

    waiting = asyncio.create_task(feed.read_after(start, 10_000, 10))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    assert await routing.router.route([delivery(9, 1)]) == 1
    first = await asyncio.wait_for(waiting, 10)
    assert len(first) == 1
    entry_id, fields = first[0]
    parsed = parse_entry(fields)
    assert parsed is not None
    assert (parsed.user_id, parsed.seq, parsed.frame) == (9, 1, b'{"seq":1,"user":9}')

    await routing.router.route([delivery(9, 2), delivery(9, 3)])
    rest = await routed(feed, entry_id)
    assert [d.seq for d in rest] == [2, 3]
    assert await feed.current_end() != start
    assert await routed(feed, await feed.current_end()) == []

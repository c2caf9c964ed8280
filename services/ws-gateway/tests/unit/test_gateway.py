"""The use cases over in-memory fakes of the ports: presence, routing, replay, expiry, slowness."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import pytest

from incident_gateway.domain.auth import Identity
from incident_gateway.domain.errors import InvalidToken
from incident_gateway.domain.protocol import SessionLimits
from incident_gateway.service.gateway import Connection, Gateway, GatewayLimits
from incident_gateway.testing import (
    InMemoryDeliveryFeed,
    InMemoryInactiveUsers,
    InMemoryMetrics,
    InMemoryPresenceStore,
    InMemoryReplaySource,
    RecordingPeer,
    StaticTokenAuthority,
)

T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@dataclass
class World:
    gateway: Gateway
    presence: InMemoryPresenceStore
    feed: InMemoryDeliveryFeed
    replay: InMemoryReplaySource
    tokens: StaticTokenAuthority
    metrics: InMemoryMetrics
    clock: Clock
    inactive: InMemoryInactiveUsers

    async def connect(
        self, user_id: int, since: int | None = None
    ) -> tuple[Connection, RecordingPeer]:
        identity = Identity(user_id, self.clock.now + 60)
        await self.gateway.admit(identity)
        peer = RecordingPeer()
        connection = self.gateway.open(peer, identity, since)
        await self.gateway.settle()
        return connection, peer

    def route(self, user_id: int, seq: int) -> None:
        self.feed.add(user_id, seq, frame(user_id, seq), routed_at_ms=int(T0 * 1000) - 5)

    async def pump(self) -> None:
        await self.gateway.pump()
        await self.gateway.settle()


def frame(user_id: int, seq: int) -> bytes:
    return json.dumps({"user": user_id, "seq": seq}).encode()


def close_code(peer: RecordingPeer) -> int | None:
    return peer.close_code


def seqs(peer: RecordingPeer) -> list[int]:
    return [json.loads(item)["seq"] for item in peer.frames]


@pytest.fixture
async def world() -> World:
    clock = Clock()
    presence = InMemoryPresenceStore(instance_id="gw-a")
    feed = InMemoryDeliveryFeed()
    replay = InMemoryReplaySource()
    tokens = StaticTokenAuthority()
    metrics = InMemoryMetrics()
    inactive = InMemoryInactiveUsers()
    limits = GatewayLimits(
        replay_page_size=2,
        replay_retry_delay=0.0,
        slow_client_bytes=1000,
        slow_client_seconds=5.0,
        max_buffered_bytes=10_000,
        stream_block_ms=10,
        session=SessionLimits(gap_retry_delay=0.0),
    )
    gateway = Gateway(
        instance_id="gw-a",
        tokens=tokens,
        presence=presence,
        feed=feed,
        replay=replay,
        metrics=metrics,
        limits=limits,
        clock=clock,
        inactive=inactive,
    )
    await gateway.start()
    return World(gateway, presence, feed, replay, tokens, metrics, clock, inactive)


async def test_presence_is_registered_at_admission_and_removed_after_the_last_connection(
    world: World,
) -> None:
    await world.gateway.admit(Identity(7, T0 + 60))
    assert world.presence.registered() == {7}  # before the connection is even open
    expiry = world.presence.members[7]["gw-a"]
    assert expiry == int(T0 * 1000) + 30_000
    first = world.gateway.open(RecordingPeer(), Identity(7, T0 + 60), None)
    _, second_peer = await world.connect(7)
    second = next(c for c in world.gateway.routes.connections_of(7) if c.peer is second_peer)
    world.gateway.closed(first)
    await world.gateway.settle()
    assert world.presence.registered() == {7}
    world.gateway.closed(second)
    await world.gateway.settle()
    assert world.presence.registered() == set()
    assert world.metrics.open_connections == 0


async def test_every_connection_of_the_user_gets_each_notification_and_no_one_else(
    world: World,
) -> None:
    _, phone = await world.connect(7)
    _, laptop = await world.connect(7)
    _, other = await world.connect(8)
    world.route(7, 1)
    world.route(7, 2)
    world.route(9, 1)  # nobody here any more
    await world.pump()
    assert seqs(phone) == [1, 2]
    assert seqs(laptop) == [1, 2]
    assert other.frames == []
    assert phone.frames[0] == frame(7, 1)  # as routed, byte for byte
    assert world.metrics.counts["routed"] == 3
    assert world.metrics.counts["delivered"] == 4
    assert world.metrics.counts["unroutable"] == 1
    assert world.metrics.latencies == [pytest.approx(0.005, abs=1e-3)] * 4


async def test_entries_routed_before_start_are_not_sent(world: World) -> None:
    world.route(7, 1)
    await world.gateway.start()
    _, peer = await world.connect(7)
    world.route(7, 2)
    await world.pump()
    assert seqs(peer) == [2]


async def test_since_replays_stored_records_then_live_without_gap_or_repeat(world: World) -> None:
    for seq in range(1, 6):
        world.replay.store(7, seq, frame(7, seq))
    _, peer = await world.connect(7, since=2)
    assert seqs(peer) == [3, 4, 5]
    assert world.replay.requests == [(7, 2, 2), (7, 4, 2)]  # two pages of two
    world.route(7, 5)  # routed and stored both: sent once
    world.route(7, 6)
    await world.pump()
    assert seqs(peer) == [3, 4, 5, 6]
    assert world.metrics.counts["replay:since"] == 2


async def test_live_deliveries_during_a_replay_wait_their_turn(world: World) -> None:
    for seq in range(1, 4):
        world.replay.store(7, seq, frame(7, seq))
    identity = Identity(7, T0 + 60)
    await world.gateway.admit(identity)
    peer = RecordingPeer()
    world.gateway.open(peer, identity, since=0)  # replay in flight, not awaited yet
    world.route(7, 3)
    world.route(7, 4)
    await world.gateway.pump()  # arrives before the replay's answer
    await world.gateway.settle()
    assert seqs(peer) == [1, 2, 3, 4]


async def test_a_gap_is_filled_from_the_store(world: World) -> None:
    _, peer = await world.connect(7)
    world.route(7, 1)
    await world.pump()
    for seq in (2, 3):
        world.replay.store(7, seq, frame(7, seq))  # routes lost (Redis restarted, say)
    world.route(7, 4)
    await world.pump()
    assert seqs(peer) == [1, 2, 3, 4]
    assert world.metrics.counts["replay:gap"] == 1


async def test_an_unreadable_store_closes_the_connection_with_1013(world: World) -> None:
    world.replay.failing = True
    _, peer = await world.connect(7, since=0)
    assert peer.close_code == 1013
    assert len(world.replay.requests) == 3


async def test_refresh_of_the_same_user_extends_and_of_another_is_refused(world: World) -> None:
    world.tokens.tokens["mine"] = Identity(7, T0 + 600)
    world.tokens.tokens["theirs"] = Identity(8, T0 + 600)
    connection, peer = await world.connect(7)
    world.gateway.receive(connection, '{"type":"refresh","token":"theirs"}')
    world.gateway.receive(connection, '{"type":"refresh","token":"junk"}')
    await world.gateway.settle()
    world.gateway.receive(connection, '{"type":"refresh","token":"mine"}')
    await world.gateway.settle()
    answers = [json.loads(item) for item in peer.frames]
    assert [answer.get("code") for answer in answers] == ["forbidden", "invalid_token", None]
    assert answers[2] == {"type": "refreshed", "expires_at": int(T0 + 600)}
    world.clock.now = T0 + 61
    world.gateway.sweep(world.clock.now)
    assert close_code(peer) is None
    world.clock.now = T0 + 600
    world.gateway.sweep(world.clock.now)
    assert close_code(peer) == 4401


async def test_identify_counts_refused_tokens(world: World) -> None:
    world.tokens.expired.add("old")
    with pytest.raises(InvalidToken) as raised:
        await world.gateway.identify("old")
    assert raised.value.code == "token_expired"
    assert world.metrics.counts["rejected:token_expired"] == 1


async def test_a_client_that_stays_slow_is_disconnected(world: World) -> None:
    _, slow = await world.connect(7)
    _, fast = await world.connect(7)
    slow.buffered = 5000
    world.gateway.sweep(T0)
    world.gateway.sweep(T0 + 4.9)
    assert close_code(slow) is None
    world.gateway.sweep(T0 + 5)
    assert close_code(slow) == 1013
    assert fast.close_code is None
    assert world.metrics.counts["slow"] == 1
    world.route(7, 1)
    await world.pump()
    assert seqs(fast) == [1]
    assert slow.frames == []


async def test_a_client_far_behind_is_disconnected_at_once(world: World) -> None:
    _, peer = await world.connect(7)
    peer.buffered = 20_000
    world.route(7, 1)
    await world.pump()
    assert peer.close_code == 1013
    assert world.metrics.counts["slow"] == 1


async def test_presence_forgotten_by_redis_is_registered_again(world: World) -> None:
    await world.connect(7)
    await world.connect(8)
    await world.gateway.maintain()
    world.presence.forget_everything()
    await world.gateway.maintain()
    assert world.presence.registered() == {7, 8}


async def test_routes_lost_while_redis_was_away_are_replayed_without_a_later_one(
    world: World,
) -> None:
    """The chaos run found it: the last notifications of a user routed while Redis was
    restarting never arrived, as no later notification revealed the gap."""
    _, peer = await world.connect(7, since=0)
    _, idle = await world.connect(8, since=0)
    world.route(7, 1)
    await world.pump()
    await world.gateway.maintain()  # the first heartbeat
    for seq in (2, 3):
        world.replay.store(7, seq, frame(7, seq))  # routes lost: Redis restarted
    world.presence.forget_everything()
    await world.gateway.maintain()
    await world.gateway.settle()
    assert seqs(peer) == [1, 2, 3]
    assert seqs(idle) == []
    world.route(7, 4)
    await world.pump()
    assert seqs(peer) == [1, 2, 3, 4]


async def test_a_resync_that_cannot_read_the_store_keeps_the_connection(world: World) -> None:
    _, peer = await world.connect(7, since=0)
    world.route(7, 1)
    await world.pump()
    await world.gateway.maintain()
    world.replay.failing = True
    world.presence.forget_everything()
    await world.gateway.maintain()
    await world.gateway.settle()
    world.route(7, 2)
    await world.pump()
    assert peer.close_code is None
    assert seqs(peer) == [1, 2]


async def test_redis_down_at_admission_still_serves_and_registers_later(world: World) -> None:
    world.presence.available = False
    _, peer = await world.connect(7)
    assert world.presence.registered() == set()
    world.presence.available = True
    await world.gateway.maintain()
    assert world.presence.registered() == {7}
    world.route(7, 1)
    await world.pump()
    assert seqs(peer) == [1]


async def test_withdraw_removes_every_local_user_at_once(world: World) -> None:
    await world.connect(7)
    await world.connect(8)
    await world.gateway.withdraw()
    assert world.presence.registered() == set()
    assert world.presence.writes[-1] == ("unregister", (7, 8))


class RecordingWrites:
    """Records each hold and release with how many frames the watched peer had then."""

    def __init__(self, peer: RecordingPeer) -> None:
        self.peer = peer
        self.events: list[tuple[str, int]] = []

    def hold(self) -> None:
        self.events.append(("hold", len(self.peer.frames)))

    def release(self) -> None:
        self.events.append(("release", len(self.peer.frames)))


async def backlogged_world(
    block_ms: int,
) -> tuple[Gateway, InMemoryDeliveryFeed, RecordingPeer, RecordingWrites]:
    feed = InMemoryDeliveryFeed()
    peer = RecordingPeer()
    writes = RecordingWrites(peer)
    gateway = Gateway(
        instance_id="gw-a",
        tokens=StaticTokenAuthority(),
        presence=InMemoryPresenceStore(instance_id="gw-a"),
        feed=feed,
        replay=InMemoryReplaySource(),
        metrics=InMemoryMetrics(),
        limits=GatewayLimits(stream_batch=2, backlog_write_entries=5, stream_block_ms=block_ms),
        clock=Clock(),
        writes=writes,
    )
    await gateway.start()
    gateway.open(peer, Identity(7, T0 + 60), None)
    return gateway, feed, peer, writes


async def test_a_backlog_is_written_in_bounded_runs_and_the_rest_batch_by_batch() -> None:
    gateway, feed, peer, writes = await backlogged_world(block_ms=10)
    for seq in range(1, 8):
        feed.add(7, seq, frame(7, seq))
    assert [await gateway.pump() for _ in range(4)] == [2, 2, 2, 1]
    # Held from the first full batch until the held entries would pass 5: the first four
    # frames went out with the third batch's, the last one on its own.
    assert writes.events == [("hold", 0), ("release", 4)]
    assert seqs(peer) == [1, 2, 3, 4, 5, 6, 7]


async def test_held_frames_do_not_wait_for_entries_that_never_come() -> None:
    gateway, feed, _peer, writes = await backlogged_world(block_ms=60_000)
    for seq in range(1, 5):
        feed.add(7, seq, frame(7, seq))
    assert await gateway.pump() == 2
    assert await gateway.pump() == 2
    # The stream ended on a full batch: the read that follows must not block for a minute.
    assert await asyncio.wait_for(gateway.pump(), timeout=1.0) == 0
    assert writes.events == [("hold", 0), ("release", 4)]


async def test_a_deactivated_users_connections_close_with_4401_at_the_next_heartbeat(
    world: World,
) -> None:
    _, phone = await world.connect(7, since=0)
    _, laptop = await world.connect(7, since=0)
    _, other = await world.connect(8, since=0)
    await world.gateway.maintain()  # the first heartbeat: nobody is deactivated
    assert [phone.close_code, laptop.close_code, other.close_code] == [None, None, None]
    world.inactive.user_ids.add(7)
    await world.gateway.maintain()  # not due yet: the check rides on the heartbeat
    assert phone.close_code is None
    await world.gateway.heartbeat()
    assert (phone.close_code, phone.close_reason) == (4401, "This account is inactive.")
    assert (laptop.close_code, other.close_code) == (4401, None)
    world.route(7, 1)
    world.route(8, 1)
    await world.pump()
    assert (seqs(phone), seqs(laptop), seqs(other)) == ([], [], [1])


async def test_connections_stay_open_when_the_deactivated_users_cannot_be_read(
    world: World,
) -> None:
    _, peer = await world.connect(7, since=0)
    world.inactive.user_ids.add(7)
    world.inactive.failing = True
    await world.gateway.heartbeat()
    assert peer.close_code is None
    assert world.presence.registered() == {7}  # the heartbeat itself went through
    world.inactive.failing = False
    await world.gateway.heartbeat()
    assert peer.close_code == 4401

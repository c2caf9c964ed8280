"""The websockets glue (entrypoints.server) over in-memory fakes: real sockets, no servers."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, cast

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Frame
from websockets.protocol import Protocol, Side, State
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from incident_gateway.adapters.pending_writes import PendingWrites
from incident_gateway.config import Settings
from incident_gateway.domain.auth import Identity
from incident_gateway.entrypoints.server import WRITE_AT_BYTES, WebSocketPeer, run_instance
from incident_gateway.service.gateway import Gateway, GatewayLimits
from incident_gateway.testing import (
    InMemoryDeliveryFeed,
    InMemoryMetrics,
    InMemoryPresenceStore,
    InMemoryReplaySource,
    StaticTokenAuthority,
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def eventually(check: Callable[[], bool], seconds: float = 20.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the condition never held")


@dataclass
class Running:
    port: int
    gateway: Gateway
    presence: InMemoryPresenceStore
    feed: InMemoryDeliveryFeed
    metrics: InMemoryMetrics
    stop: asyncio.Event
    task: asyncio.Task[None]

    def ws(self, token: str | None = None) -> str:
        query = f"?token={token}" if token else ""
        return f"ws://127.0.0.1:{self.port}/ws/notifications/{query}"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    expires = time.time() + 600
    tokens = StaticTokenAuthority({f"token-{n}": Identity(n, expires) for n in range(1, 4)})
    presence = InMemoryPresenceStore(instance_id="api-test")
    feed = InMemoryDeliveryFeed()
    metrics = InMemoryMetrics()
    limits = GatewayLimits(
        sweep_interval_seconds=0.05,
        slow_client_bytes=64 * 1024,
        slow_client_seconds=0.3,
        max_buffered_bytes=256 * 1024 * 1024,
        stream_block_ms=50,
    )
    writes = PendingWrites()
    gateway = Gateway(
        instance_id="api-test",
        tokens=tokens,
        presence=presence,
        feed=feed,
        replay=InMemoryReplaySource(),
        metrics=metrics,
        limits=limits,
        writes=writes,
    )
    settings = Settings(port=free_port(), instance_id="api-test", close_timeout_seconds=0.5)

    async def readiness() -> dict[str, str]:
        return {} if presence.available else {"redis": "down (fake)"}

    stop = asyncio.Event()
    task = asyncio.create_task(
        run_instance(settings, gateway, readiness, lambda: b"", stop, writes)
    )
    for _ in range(100):
        try:
            async with httpx.AsyncClient() as client:
                await client.get(f"http://127.0.0.1:{settings.port}/healthz")
            break
        except httpx.HTTPError:
            await asyncio.sleep(0.02)
    yield Running(settings.port, gateway, presence, feed, metrics, stop, task)
    stop.set()
    await asyncio.wait_for(task, 10)


async def test_http_routes(running: Running) -> None:
    async with httpx.AsyncClient(base_url=running.http) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        assert (await client.get("/readyz")).status_code == 200
        running.presence.available = False
        not_ready = await client.get("/readyz")
        assert not_ready.status_code == 503
        assert not_ready.json()["code"] == "not_ready"
        assert not_ready.json()["failed"] == {"redis": "down (fake)"}
        missing = await client.get("/nothing/here")
        assert missing.status_code == 404
        assert missing.json() == {"detail": "There is nothing at this path.", "code": "not_found"}


async def test_refused_handshake_is_json_401(running: Running) -> None:
    with pytest.raises(InvalidStatus) as raised:
        async with connect(running.ws("forged")):
            pass
    response = raised.value.response
    assert response.status_code == 401
    assert json.loads(response.body or b"") == {
        "detail": "The token is malformed.",
        "code": "invalid_token",
    }
    assert running.metrics.counts["rejected:invalid_token"] == 1


async def test_bearer_subprotocol_and_delivery_as_routed(running: Running) -> None:
    offered = [Subprotocol("bearer"), Subprotocol("token-1")]
    async with connect(running.ws(), subprotocols=offered) as ws:
        assert ws.subprotocol == "bearer"
        assert running.presence.registered() == {1}
        frame = '{"seq":1,"message":"Überprüfung"}'.encode()
        running.feed.add(1, 1, frame)
        assert await asyncio.wait_for(ws.recv(decode=False), 5) == frame


async def test_graceful_stop_closes_with_1012_and_withdraws_presence(running: Running) -> None:
    async with connect(running.ws("token-1")) as one, connect(running.ws("token-2")) as two:
        assert running.presence.registered() == {1, 2}
        running.stop.set()
        for ws in (one, two):
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1012
    await asyncio.wait_for(running.task, 10)
    assert running.presence.registered() == set()


async def test_a_client_that_stops_reading_is_closed_and_others_keep_receiving(
    running: Running,
) -> None:
    payload = "x" * (60 * 1024)
    async with (
        connect(running.ws("token-3"), max_queue=1, close_timeout=0.1) as slow,
        connect(running.ws("token-3"), max_size=None) as fast,
    ):
        all_received = asyncio.Event()
        received = 0

        async def read_fast() -> None:
            nonlocal received
            async for _ in fast:
                received += 1
                if received == 300:
                    all_received.set()

        reader = asyncio.create_task(read_fast())
        for seq in range(1, 301):  # ~18 MB: more than the kernel buffers on loopback hold
            running.feed.add(3, seq, json.dumps({"seq": seq, "pad": payload}).encode())
        await asyncio.wait_for(all_received.wait(), 20)
        await eventually(lambda: running.metrics.counts["slow"] == 1)
        reader.cancel()
        del slow  # it never reads again: it would not even notice the close
    assert running.metrics.counts["slow"] == 1
    await eventually(lambda: running.gateway.routes.connections_of(3) == ())


async def test_frames_routed_together_arrive_complete_and_in_order(running: Running) -> None:
    async with connect(running.ws("token-2")) as ws:
        frames = [json.dumps({"seq": seq, "n": "é" * seq}).encode() for seq in range(1, 51)]
        for seq, frame in enumerate(frames, start=1):
            running.feed.add(2, seq, frame)
        received = [await asyncio.wait_for(ws.recv(decode=False), 5) for _ in frames]
        assert received == frames


class RecordingTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def writelines(self, chunks: list[bytes]) -> None:
        self.writes.append(b"".join(chunks))

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0


def open_peer() -> tuple[WebSocketPeer, RecordingTransport, PendingWrites]:
    """A peer over an open server connection whose transport records what is written."""
    protocol = ServerProtocol()
    protocol.state = State.OPEN
    connection = ServerConnection(protocol, cast(Any, None))
    transport = RecordingTransport()
    connection.transport = cast(Any, transport)
    pending = PendingWrites()
    return WebSocketPeer(connection, pending), transport, pending


def frames_in(write: bytes) -> list[bytes]:
    """The payloads of the frames in one write, as a client reads them."""
    client = Protocol(Side.CLIENT, state=State.OPEN)
    client.receive_data(write)
    return [event.data for event in client.events_received() if isinstance(event, Frame)]


async def test_a_peer_writes_the_frames_of_one_turn_at_once() -> None:
    peer, transport, _ = open_peer()
    peer.send(b'{"seq":1}')
    peer.send(b'{"seq":2}')
    assert transport.writes == []
    assert peer.buffered_bytes == 18  # counted as unread already
    await asyncio.sleep(0)
    assert len(transport.writes) == 1
    assert frames_in(transport.writes[0]) == [b'{"seq":1}', b'{"seq":2}']
    assert peer.buffered_bytes == 0


async def test_held_writes_wait_for_their_release() -> None:
    peer, transport, pending = open_peer()
    pending.hold()
    peer.send(b'{"seq":1}')
    await asyncio.sleep(0)
    peer.send(b'{"seq":2}')
    await asyncio.sleep(0)
    assert transport.writes == []
    pending.release()
    assert transport.writes == []  # at the end of this turn, not during it
    await asyncio.sleep(0)
    assert len(transport.writes) == 1
    assert frames_in(transport.writes[0]) == [b'{"seq":1}', b'{"seq":2}']


async def test_a_peer_holding_a_large_write_makes_it_without_waiting_for_the_release() -> None:
    peer, transport, pending = open_peer()
    pending.hold()
    frame = b'"' + b"x" * 1000 + b'"'
    for _ in range(WRITE_AT_BYTES // len(frame) + 1):
        peer.send(frame)
    assert len(transport.writes) == 1  # written at 64 KiB, the release not yet given
    assert peer.buffered_bytes < WRITE_AT_BYTES  # not counted as unread by the client

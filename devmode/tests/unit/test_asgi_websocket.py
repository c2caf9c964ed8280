"""The ASGI glue of /ws/notifications/ over the gateway's use cases, without sockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import MutableMapping
from typing import Any

from incident_devmode.asgi_websocket import AsgiPeer, NotificationsEndpoint
from incident_gateway.domain.auth import Identity
from incident_gateway.service.gateway import Gateway
from incident_gateway.testing import (
    InMemoryDeliveryFeed,
    InMemoryMetrics,
    InMemoryPresenceStore,
    InMemoryReplaySource,
    StaticTokenAuthority,
)

FAR_FUTURE = 4_000_000_000.0
Message = MutableMapping[str, Any]


class FakeAsgiSocket:
    """The server side of one ASGI WebSocket: messages in from a queue, out into a list."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[Message] = asyncio.Queue()
        self.sent: list[Message] = []
        self.changed = asyncio.Event()

    async def receive(self) -> Message:
        return await self.incoming.get()

    async def send(self, message: Message) -> None:
        self.sent.append(message)
        self.changed.set()

    async def until(self, count: int) -> list[Message]:
        async with asyncio.timeout(5):
            while len(self.sent) < count:
                self.changed.clear()
                await self.changed.wait()
        return self.sent


def scope(query: str = "", subprotocols: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "websocket",
        "path": "/ws/notifications/",
        "query_string": query.encode(),
        "headers": [],
        "subprotocols": subprotocols or [],
        "extensions": {"websocket.http.response": {}},
    }


def gateway(presence: InMemoryPresenceStore, replay: InMemoryReplaySource) -> Gateway:
    tokens = StaticTokenAuthority({"carol-token": Identity(user_id=4, expires_at=FAR_FUTURE)})
    return Gateway(
        instance_id="test",
        tokens=tokens,
        presence=presence,
        feed=InMemoryDeliveryFeed(),
        replay=replay,
        metrics=InMemoryMetrics(),
    )


async def test_a_bad_token_is_refused_with_401_and_a_json_body() -> None:
    socket = FakeAsgiSocket()
    endpoint = NotificationsEndpoint(gateway(InMemoryPresenceStore(), InMemoryReplaySource()))
    await socket.incoming.put({"type": "websocket.connect"})
    await endpoint(scope("token=forged"), socket.receive, socket.send)
    start, body = socket.sent
    assert start["type"] == "websocket.http.response.start"
    assert start["status"] == 401
    assert json.loads(body["body"]) == {
        "detail": "The token is malformed.",
        "code": "invalid_token",
    }


async def test_the_bearer_subprotocol_is_selected_and_pings_answered() -> None:
    socket = FakeAsgiSocket()
    presence = InMemoryPresenceStore()
    endpoint = NotificationsEndpoint(gateway(presence, InMemoryReplaySource()))
    await socket.incoming.put({"type": "websocket.connect"})
    serving = asyncio.create_task(
        endpoint(scope(subprotocols=["bearer", "carol-token"]), socket.receive, socket.send)
    )
    await socket.until(1)
    assert socket.sent[0] == {"type": "websocket.accept", "subprotocol": "bearer"}
    assert presence.registered() == {4}  # before the client learned it was connected
    await socket.incoming.put(
        {"type": "websocket.receive", "text": '{"type":"ping","timestamp":5}'}
    )
    await socket.until(2)
    assert json.loads(socket.sent[1]["text"]) == {"type": "pong", "timestamp": 5}
    await socket.incoming.put({"type": "websocket.disconnect", "code": 1000})
    await asyncio.wait_for(serving, 5)
    assert endpoint.open_connections == 0


async def test_since_replays_the_stored_records_first() -> None:
    socket = FakeAsgiSocket()
    replay = InMemoryReplaySource()
    for seq in (1, 2, 3):
        replay.store(4, seq, json.dumps({"seq": seq}).encode())
    endpoint = NotificationsEndpoint(gateway(InMemoryPresenceStore(), replay))
    await socket.incoming.put({"type": "websocket.connect"})
    serving = asyncio.create_task(
        endpoint(scope("token=carol-token&since=1"), socket.receive, socket.send)
    )
    sent = await socket.until(3)
    assert [json.loads(m["text"])["seq"] for m in sent[1:]] == [2, 3]
    await socket.incoming.put({"type": "websocket.disconnect", "code": 1000})
    await asyncio.wait_for(serving, 5)


async def test_the_peer_writes_in_order_then_closes() -> None:
    socket = FakeAsgiSocket()
    peer = AsgiPeer(socket.send)
    writer = asyncio.create_task(peer.write_until_closed())
    peer.send(b'{"seq":1}')
    peer.send(b'{"seq":2}')
    assert peer.buffered_bytes == 18
    peer.close(1012, "service restart")
    peer.send(b'{"seq":3}')  # after close: dropped
    await asyncio.wait_for(writer, 5)
    assert socket.sent == [
        {"type": "websocket.send", "text": '{"seq":1}'},
        {"type": "websocket.send", "text": '{"seq":2}'},
        {"type": "websocket.close", "code": 1012, "reason": "service restart"},
    ]
    assert peer.buffered_bytes == 0

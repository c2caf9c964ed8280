"""``/ws/notifications/`` as an ASGI WebSocket endpoint over the gateway's own use cases.

The standalone gateway runs a websockets server; here the one uvicorn server of the dev mode
speaks WebSocket, and this module is the thin glue between its ASGI messages and the same
``Gateway`` (admission, presence, sessions, replay, delivery), so the dev mode behaves like
production: 401 before the upgrade for a bad token (ASGI's denial-response extension), the
``bearer`` subprotocol selected, pings answered, 4401 at token expiry, resume with ``since``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from typing import Any

from starlette.types import Receive, Scope, Send

from incident_gateway.domain.auth import BEARER_SUBPROTOCOL, read_admission
from incident_gateway.domain.errors import GatewayError, InvalidToken
from incident_gateway.service.gateway import Gateway

log = logging.getLogger(__name__)

CLOSE_SERVICE_RESTART = 1012
CLOSE_MESSAGE_TOO_BIG = 1009
MAX_FRAME_BYTES = 64 * 1024
"""API.md: a larger frame is closed with 1009. Checked here, not only by the server's parser
limit: a parser that refuses mid-frame drops the TCP connection before the client can read
the close frame, while this closes with a proper handshake."""


class AsgiPeer:
    """One ASGI WebSocket as the gateway's ``Peer``: ``send`` queues, a writer task sends.

    The gateway writes from its delivery task and must never wait for a client, so frames
    go to a queue; ``buffered_bytes`` (what is queued) lets it find and drop slow clients.
    """

    def __init__(self, send: Send) -> None:
        self._send = send
        self._frames: deque[bytes] = deque()
        self._queued = 0
        self._close: tuple[int, str] | None = None
        self._wakeup = asyncio.Event()
        self.closed = False

    def send(self, frame: bytes) -> None:
        if self._close is not None or self.closed:
            return
        self._frames.append(frame)
        self._queued += len(frame)
        self._wakeup.set()

    def close(self, code: int, reason: str) -> None:
        if self._close is None:
            self._close = (code, reason)
            self._wakeup.set()

    @property
    def buffered_bytes(self) -> int:
        return self._queued

    async def write_until_closed(self) -> None:
        """The writer task: frames in order, then the close (if the server closes)."""
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                while self._frames:
                    frame = self._frames.popleft()
                    self._queued -= len(frame)
                    await self._send({"type": "websocket.send", "text": frame.decode()})
                if self._close is not None:
                    code, reason = self._close
                    await self._send({"type": "websocket.close", "code": code, "reason": reason})
                    return
        except (OSError, RuntimeError):
            # The client went away while we wrote (uvicorn raises on a closed socket).
            return
        finally:
            self.closed = True


class NotificationsEndpoint:
    """An ASGI app for websocket scopes on the notifications path."""

    def __init__(
        self,
        gateway: Gateway,
        allowed_origins: list[str] | None = None,
        max_frame_bytes: int = MAX_FRAME_BYTES,
    ) -> None:
        self._gateway = gateway
        self._allowed_origins = allowed_origins or []
        self._max_frame_bytes = max_frame_bytes
        self._peers: set[AsgiPeer] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "websocket"
        first = await receive()
        if first["type"] != "websocket.connect":
            return
        headers = {key.decode("latin-1").lower(): value for key, value in scope["headers"]}
        target = scope["path"]
        if scope.get("query_string"):
            target += "?" + scope["query_string"].decode("latin-1")
        offered: list[str] = list(scope.get("subprotocols") or [])
        origin = headers.get("origin")
        try:
            admission = read_admission(
                target,
                offered,
                origin.decode("latin-1") if origin else None,
                self._allowed_origins,
            )
            identity = await self._gateway.identify(admission.token)
        except InvalidToken as error:
            await _deny(send, scope, error)  # counted by identify()
            return
        except GatewayError as error:
            self._gateway.refused(error.code)
            await _deny(send, scope, error)
            return
        await self._gateway.admit(identity)
        subprotocol = next((p for p in offered if p.lower() == BEARER_SUBPROTOCOL), None)
        await send({"type": "websocket.accept", "subprotocol": subprotocol})
        peer = AsgiPeer(send)
        self._peers.add(peer)
        writer = asyncio.create_task(peer.write_until_closed(), name="ws-writer")
        connection = self._gateway.open(peer, identity, admission.since)
        try:
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    break
                if message["type"] == "websocket.receive":
                    text: str | None = message.get("text")
                    data: str | bytes = text if text is not None else message.get("bytes") or b""
                    if _size(data) > self._max_frame_bytes:
                        peer.close(CLOSE_MESSAGE_TOO_BIG, "message too big")
                        continue
                    self._gateway.receive(connection, data)
        finally:
            self._gateway.closed(connection)
            peer.closed = True
            self._peers.discard(peer)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    @property
    def open_connections(self) -> int:
        return len(self._peers)

    def close_all(self, code: int = CLOSE_SERVICE_RESTART, reason: str = "service restart") -> int:
        """Close every connection (at shutdown)."""
        peers = list(self._peers)
        for peer in peers:
            peer.close(code, reason)
        return len(peers)

    def drop_user(self, user_id: int) -> int:
        """Close one user's connections as a server restart would (the console's "drop")."""
        connections = self._gateway.routes.connections_of(user_id)
        for connection in connections:
            connection.peer.close(CLOSE_SERVICE_RESTART, "dropped on request")
        return len(connections)


def _size(data: str | bytes) -> int:
    return len(data.encode()) if isinstance(data, str) else len(data)


async def _deny(send: Send, scope: Scope, error: GatewayError) -> None:
    """Refuse the upgrade with an HTTP answer carrying ``{"detail", "code"}``."""
    body = json.dumps({"detail": error.detail, "code": error.code}).encode()
    extensions: dict[str, Any] = scope.get("extensions") or {}
    if "websocket.http.response" in extensions:
        await send(
            {
                "type": "websocket.http.response.start",
                "status": error.status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "websocket.http.response.body", "body": body})
        return
    # A server without the extension can only refuse with 403.
    await send({"type": "websocket.close", "code": 1008, "reason": error.code})

"""The stream's I/O against a small scripted WebSocket server on the loopback interface.

The server plays the notifications endpoint: it checks the ``bearer`` subprotocol, records
what each connection asked for (token, ``since``) and what the client sent, and follows a
script per connection (send these frames, then close with this code). The HTTP API (token
renewal) is an ``httpx.MockTransport``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from incident_notify import (
    ApiClient,
    Backoff,
    Connected,
    Disconnected,
    Event,
    Notification,
    NotificationStream,
    SessionExpired,
    Tokens,
    TokensRefreshed,
)


def jwt(expires_in: float, name: str) -> str:
    claims = {"exp": int(time.time() + expires_in), "sub": "4", "jti": name}
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"eyJhbGciOiJFZERTQSJ9.{body}.sig-{name}"


def note(seq: int) -> str:
    return json.dumps(
        {
            "id": f"n{seq}",
            "seq": seq,
            "notification_type": "work_started",
            "message": f"message {seq}",
            "ticket": {"id": 1},
            "timestamp": "2025-12-23T10:00:00Z",
        }
    )


@dataclass
class Step:
    frames: list[str] = field(default_factory=list)
    close: int | None = 1012
    """Close code after the frames; None keeps the connection open."""
    refuse: int | None = None
    """Refuse the handshake with this HTTP status instead."""


@dataclass
class ScriptedServer:
    script: list[Step]
    tokens: list[str] = field(default_factory=list)
    sinces: list[str | None] = field(default_factory=list)
    received: list[str] = field(default_factory=list)
    got_message: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        offered = request.headers.get("Sec-WebSocket-Protocol", "")
        parts = [part.strip() for part in offered.split(",")]
        assert parts[0] == "bearer", "the token travels in the subprotocol header"
        self.tokens.append(parts[1])
        query = parse_qs(urlsplit(request.path).query)
        self.sinces.append(query.get("since", [None])[0])
        assert "token" not in query, "never in the URL"
        step = self.script[min(len(self.tokens) - 1, len(self.script) - 1)]
        if step.refuse is not None:
            return connection.respond(step.refuse, "refused\n")
        return None

    async def handle(self, connection: ServerConnection) -> None:
        step = self.script[min(len(self.tokens) - 1, len(self.script) - 1)]
        for frame in step.frames:
            await connection.send(frame)
        if step.close is not None:
            await connection.close(step.close, "scripted")
            return
        async for message in connection:
            self.received.append(str(message))
            self.got_message.set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@asynccontextmanager
async def started(server: ScriptedServer) -> AsyncIterator[ScriptedServer]:
    async with serve(
        server.handle,
        "127.0.0.1",
        0,
        process_request=server.process_request,
        select_subprotocol=lambda connection, offered: "bearer",  # type: ignore[arg-type,return-value]
    ) as ws_server:
        server.port = ws_server.sockets[0].getsockname()[1]
        yield server


def renewing_api(base: str, tokens: Tokens, *, refuse: bool = False) -> ApiClient:
    renewals = iter(range(2, 100))

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/auth/refresh/"
        if refuse:
            return httpx.Response(401, json={"detail": "Revoked.", "code": "invalid_token"})
        number = next(renewals)
        return httpx.Response(
            200, json={"access": jwt(3600, f"a{number}"), "refresh": f"r{number}"}
        )

    return ApiClient(base, tokens=tokens, transport=httpx.MockTransport(answer))


async def collect(stream: NotificationStream, count: int) -> list[Event]:
    """Events until ``count`` notifications were seen."""
    events: list[Event] = []
    async with asyncio.timeout(10), aclosing(stream.events()) as iterator:
        async for event in iterator:
            events.append(event)
            if sum(isinstance(e, Notification) for e in events) >= count:
                break
    return events


def quick() -> Backoff:
    return Backoff(initial=0.01, maximum=0.02, random=lambda: 0.0)


async def test_it_reconnects_resumes_after_the_last_seq_and_drops_repeats() -> None:
    server = ScriptedServer(
        [Step([note(1), note(2)], close=1012), Step([note(2), note(3)], close=None)]
    )
    async with (
        started(server) as serving,
        renewing_api(serving.url, Tokens(jwt(3600, "a1"), "r1")) as api,
    ):
        events = await collect(NotificationStream(api, backoff=quick()), 3)
    notifications = [e for e in events if isinstance(e, Notification)]
    assert [n.seq for n in notifications] == [1, 2, 3]
    assert server.sinces == [None, "2"]
    assert Connected(since=None) in events
    assert Connected(since=2) in events
    dropped = next(e for e in events if isinstance(e, Disconnected))
    assert dropped.code == 1012


async def test_an_expired_token_is_renewed_and_the_new_one_used() -> None:
    server = ScriptedServer([Step([note(1)], close=4401), Step([note(2)], close=None)])
    async with started(server) as serving:
        first = jwt(3600, "a1")
        api = renewing_api(serving.url, Tokens(first, "r1"))
        async with api:
            events = await collect(NotificationStream(api, backoff=quick()), 2)
    assert server.tokens == [first, api.tokens.access if api.tokens else ""]
    assert server.tokens[1] != server.tokens[0]
    assert any(isinstance(e, TokensRefreshed) for e in events)
    assert server.sinces == [None, "1"]


async def test_a_renewal_on_an_open_connection_sends_the_refresh_frame() -> None:
    server = ScriptedServer([Step([note(1)], close=None)])
    async with started(server) as serving:
        # Expires in 4 s, renewed 2 s before: on the open connection.
        api = renewing_api(serving.url, Tokens(jwt(4, "a1"), "r1"))
        async with api:
            stream = NotificationStream(api, backoff=quick(), refresh_margin=2)
            events: list[Event] = []
            async with asyncio.timeout(10), aclosing(stream.events()) as iterator:
                async for event in iterator:
                    events.append(event)
                    if isinstance(event, TokensRefreshed):
                        break
            assert api.tokens is not None
            new_access = api.tokens.access
            await asyncio.wait_for(server.got_message.wait(), 5)
    assert json.loads(server.received[0]) == {"type": "refresh", "token": new_access}


async def test_a_refused_session_ends_the_stream() -> None:
    server = ScriptedServer([Step(refuse=401)])
    async with (
        started(server) as serving,
        renewing_api(serving.url, Tokens(jwt(3600, "a1"), "r1"), refuse=True) as api,
    ):
        with pytest.raises(SessionExpired) as ended:
            await collect(NotificationStream(api, backoff=quick()), 1)
    assert ended.value.code == "invalid_token"
    assert len(server.tokens) == 1

"""One real gateway process over real Redis, with tokens from a test key (no tickets service).

Handshake refusals (HTTP 401/403/404 before any upgrade, JSON bodies), the session rules
(ping, errors, 1009, 1008, 4401 expiry and refresh), presence in Redis, the HTTP routes, and
the graceful shutdown (1012, presence removed, exit 0).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from harness.gateway import (
    JwksServer,
    RunningGateway,
    TokenMint,
    presence_of,
    route_delivery,
    start_gateway,
)
from harness.infra import Infra
from websockets.asyncio.client import connect as open_async
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin, Subprotocol

ALLOWED_ORIGIN = "https://app.example.com"
NO_NOTIFIER = "http://127.0.0.1:9"  # these tests never replay


@pytest.fixture(scope="module")
def mint() -> TokenMint:
    return TokenMint()


@pytest.fixture(scope="module")
def jwks(mint: TokenMint) -> Iterator[JwksServer]:
    with JwksServer(mint).running() as server:
        yield server


@pytest.fixture(scope="module")
def gateway(infra: Infra, jwks: JwksServer) -> Iterator[RunningGateway]:
    running = start_gateway(
        infra,
        jwks.url,
        NO_NOTIFIER,
        f"hs-{infra.run_id}",
        allowed_origins=ALLOWED_ORIGIN,
        max_frames_per_second=20,
        frame_burst=30,
    )
    yield running
    running.stop()


@pytest.fixture(scope="module")
def redis_client(infra: Infra) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(infra.redis_url)
    yield client
    client.close()


def refused(url: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    with pytest.raises(InvalidStatus) as raised:
        connect(url, open_timeout=10, **kwargs).close()
    response = raised.value.response
    assert response.headers["Content-Type"] == "application/json"
    body: dict[str, Any] = json.loads(response.body or b"{}")
    return response.status_code, body


def frames_until_closed(ws: ClientConnection) -> tuple[list[Any], int | None]:
    received: list[Any] = []
    try:
        while True:
            received.append(json.loads(ws.recv(timeout=15)))
    except ConnectionClosed as closed:
        return received, closed.rcvd.code if closed.rcvd else None


# --- refusals ---------------------------------------------------------------------------
def test_missing_token_is_refused_with_401(gateway: RunningGateway) -> None:
    status, body = refused(gateway.ws_url)
    assert status == 401
    assert body["code"] == "not_authenticated"
    assert body["detail"].startswith("Authentication credentials were not provided")


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.e30."])
def test_garbage_token_is_refused_with_401(gateway: RunningGateway, token: str) -> None:
    status, body = refused(gateway.ws(token))
    assert (status, body["code"]) == (401, "invalid_token")


def test_expired_token_is_refused_with_401(gateway: RunningGateway, mint: TokenMint) -> None:
    token = mint.access(1, issued_at=time.time() - 600, lifetime=60)
    status, body = refused(gateway.ws(token))
    assert (status, body) == (401, {"detail": "The token has expired.", "code": "token_expired"})


def test_token_of_a_foreign_key_is_refused_with_401(
    gateway: RunningGateway, mint: TokenMint
) -> None:
    same_kid = TokenMint(kid=mint.kid)  # a key the tickets service never published
    unknown_kid = TokenMint()
    for token in (same_kid.access(1), unknown_kid.access(1)):
        status, body = refused(gateway.ws(token))
        assert (status, body["code"]) == (401, "invalid_token")


def test_bad_token_in_the_subprotocol_header_is_refused(gateway: RunningGateway) -> None:
    status, body = refused(
        gateway.ws_url, subprotocols=[Subprotocol("bearer"), Subprotocol("nonsense")]
    )
    assert (status, body["code"]) == (401, "invalid_token")


def test_origin_outside_the_allowlist_is_refused_with_403(
    gateway: RunningGateway, mint: TokenMint
) -> None:
    status, body = refused(gateway.ws(mint.access(1)), origin=Origin("https://evil.example.net"))
    assert (status, body["code"]) == (403, "forbidden")
    with connect(gateway.ws(mint.access(1)), origin=Origin(ALLOWED_ORIGIN)) as ws:
        ws.send('{"type":"ping","timestamp":1}')
        assert json.loads(ws.recv(timeout=10)) == {"type": "pong", "timestamp": 1}


def test_unknown_path_is_404_and_refusals_are_counted(gateway: RunningGateway) -> None:
    before = gateway.metric('gateway_rejected_handshakes_total{code="not_authenticated"}')
    assert httpx.get(f"{gateway.url}/ws/other/").status_code == 404
    assert httpx.get(gateway.ws_url).json()["code"] == "not_authenticated"
    after = gateway.metric('gateway_rejected_handshakes_total{code="not_authenticated"}')
    assert after == before + 1


def test_tokens_never_reach_the_log(gateway: RunningGateway, mint: TokenMint) -> None:
    token = mint.access(99)
    with connect(gateway.ws(token)) as ws:
        ws.send('{"type":"ping"}')
        ws.recv(timeout=10)
    refused(gateway.ws(token + "x"))
    assert token not in gateway.process.log_text()


# --- an open session --------------------------------------------------------------------
def test_health_readiness_and_metrics(gateway: RunningGateway) -> None:
    assert httpx.get(f"{gateway.url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{gateway.url}/readyz").json() == {"status": "ok"}
    metrics = httpx.get(gateway.metrics_url)
    assert metrics.status_code == 200
    for name in (
        "gateway_open_connections",
        "gateway_messages_delivered_total",
        "gateway_delivery_latency_seconds_bucket",
        "gateway_rejected_handshakes_total",
        "gateway_slow_client_disconnects_total",
    ):
        assert name in metrics.text


def test_ping_and_bad_frames_on_a_subprotocol_connection(
    gateway: RunningGateway, mint: TokenMint
) -> None:
    with connect(
        gateway.ws_url, subprotocols=[Subprotocol("bearer"), Subprotocol(mint.access(5))]
    ) as ws:
        assert ws.subprotocol == "bearer"
        ws.send(json.dumps({"type": "ping", "timestamp": "2025-12-23T10:00:00Z"}))
        assert json.loads(ws.recv(timeout=10)) == {
            "type": "pong",
            "timestamp": "2025-12-23T10:00:00Z",
        }
        codes = []
        for bad in ("{oops", "[1,2]", '{"type":"subscribe"}'):
            ws.send(bad)
            answer = json.loads(ws.recv(timeout=10))
            assert answer["type"] == "error"
            assert answer["detail"]
            codes.append(answer["code"])
        assert codes == ["invalid_json", "invalid_message", "unknown_type"]
        ws.send('{"type":"ping","timestamp":7}')
        assert json.loads(ws.recv(timeout=10)) == {"type": "pong", "timestamp": 7}


def test_oversized_frame_closes_with_1009_and_others_go_on(
    gateway: RunningGateway, mint: TokenMint
) -> None:
    with (
        connect(gateway.ws(mint.access(11))) as bystander,
        connect(gateway.ws(mint.access(12)), max_size=None) as offender,
    ):
        offender.send(json.dumps({"type": "ping", "pad": "x" * (64 * 1024)}))
        _, code = frames_until_closed(offender)
        assert code == 1009
        bystander.send('{"type":"ping","timestamp":1}')
        assert json.loads(bystander.recv(timeout=10)) == {"type": "pong", "timestamp": 1}


def test_flood_closes_with_1008(gateway: RunningGateway, mint: TokenMint) -> None:
    with connect(gateway.ws(mint.access(13))) as ws:
        for number in range(200):
            try:
                ws.send(json.dumps({"type": "ping", "timestamp": number}))
            except ConnectionClosed:
                break
        received, code = frames_until_closed(ws)
    assert code == 1008
    assert 30 <= len(received) < 200
    assert all(frame["type"] == "pong" for frame in received)


def test_expiry_closes_with_4401(gateway: RunningGateway, mint: TokenMint) -> None:
    with connect(gateway.ws(mint.access(14, lifetime=2))) as ws:
        received, code = frames_until_closed(ws)
    assert (received, code) == ([], 4401)


def test_refresh_of_the_same_user_extends_the_connection(
    gateway: RunningGateway, mint: TokenMint
) -> None:
    issued = time.time()
    with connect(gateway.ws(mint.access(15, lifetime=5, issued_at=issued))) as ws:
        ws.send(json.dumps({"type": "refresh", "token": mint.access(16)}))
        assert json.loads(ws.recv(timeout=10))["code"] == "forbidden"
        ws.send(json.dumps({"type": "refresh", "token": "garbage"}))
        assert json.loads(ws.recv(timeout=10))["code"] == "invalid_token"
        fresh = mint.access(15, lifetime=60)
        ws.send(json.dumps({"type": "refresh", "token": fresh}))
        answer = json.loads(ws.recv(timeout=10))
        assert answer["type"] == "refreshed"
        assert answer["expires_at"] >= int(issued) + 59
        time.sleep(max(0.0, issued + 6 - time.time()))  # past the first token's expiry
        ws.send('{"type":"ping","timestamp":"still here"}')
        assert json.loads(ws.recv(timeout=10)) == {"type": "pong", "timestamp": "still here"}


# --- presence and deliveries ----------------------------------------------------------
def test_presence_follows_the_users_connections(
    gateway: RunningGateway, mint: TokenMint, redis_client: redis.Redis, infra: Infra
) -> None:
    user = 21
    with connect(gateway.ws(mint.access(user))) as first:
        presence = presence_of(redis_client, infra.namespace, user)
        assert list(presence) == [gateway.instance_id]
        assert presence[gateway.instance_id] > time.time() * 1000
        with connect(gateway.ws(mint.access(user))) as second:
            route_delivery(redis_client, infra.namespace, gateway.instance_id, user, 1, '{"seq":1}')
            assert first.recv(timeout=10) == '{"seq":1}'
            assert second.recv(timeout=10) == '{"seq":1}'
        first.send('{"type":"ping"}')
        assert json.loads(first.recv(timeout=10)) == {"type": "pong"}
        assert list(presence_of(redis_client, infra.namespace, user)) == [gateway.instance_id]
    deadline = time.monotonic() + 10
    while presence_of(redis_client, infra.namespace, user) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert presence_of(redis_client, infra.namespace, user) == {}


def test_a_burst_of_handshakes_registers_every_users_presence(
    infra: Infra, jwks: JwksServer, mint: TokenMint, redis_client: redis.Redis
) -> None:
    """Handshakes at once outnumber Redis connections: they wait for one, none is skipped
    (redis-py's default pool failed the ones over its size, which then had no presence)."""
    gateway = start_gateway(
        infra, jwks.url, NO_NOTIFIER, f"burst-{infra.run_id}", redis_max_connections=2
    )
    users = range(70_000, 70_200)

    async def burst() -> list[int]:
        sockets = await asyncio.gather(
            *(open_async(gateway.ws(mint.access(user)), open_timeout=60) for user in users)
        )
        try:
            return [
                user
                for user in users
                if gateway.instance_id not in presence_of(redis_client, gateway.namespace, user)
            ]
        finally:
            await asyncio.gather(*(ws.close() for ws in sockets))

    try:
        assert asyncio.run(burst()) == []
    finally:
        gateway.stop()


def test_deliveries_go_only_to_their_user_in_seq_order_without_repeats(
    gateway: RunningGateway, mint: TokenMint, redis_client: redis.Redis, infra: Infra
) -> None:
    with (
        connect(gateway.ws(mint.access(31))) as mine,
        connect(gateway.ws(mint.access(32))) as theirs,
    ):
        for seq in (1, 2, 2, 1, 3):  # repeats are dropped
            frame = json.dumps({"seq": seq, "message": "für 31"})
            route_delivery(redis_client, infra.namespace, gateway.instance_id, 31, seq, frame)
        route_delivery(redis_client, infra.namespace, gateway.instance_id, 32, 1, '{"seq":1}')
        assert [json.loads(mine.recv(timeout=10))["seq"] for _ in range(3)] == [1, 2, 3]
        assert json.loads(theirs.recv(timeout=10)) == {"seq": 1}
        mine.send('{"type":"ping"}')
        assert json.loads(mine.recv(timeout=10)) == {"type": "pong"}  # nothing else queued


def test_sigterm_closes_with_1012_removes_presence_and_exits_0(
    infra: Infra, jwks: JwksServer, mint: TokenMint, redis_client: redis.Redis
) -> None:
    doomed = start_gateway(infra, jwks.url, NO_NOTIFIER, f"term-{infra.run_id}")
    try:
        with connect(doomed.ws(mint.access(41))) as one, connect(doomed.ws(mint.access(42))) as two:
            assert doomed.instance_id in presence_of(redis_client, infra.namespace, 41)
            assert doomed.process.terminate() == 0
            assert frames_until_closed(one) == ([], 1012)
            assert frames_until_closed(two) == ([], 1012)
        assert presence_of(redis_client, infra.namespace, 41) == {}
        assert presence_of(redis_client, infra.namespace, 42) == {}
    finally:
        doomed.process.kill()


def test_a_peer_that_answers_no_pings_is_dropped_and_its_presence_removed(
    infra: Infra, jwks: JwksServer, mint: TokenMint, redis_client: redis.Redis
) -> None:
    pinging = start_gateway(
        infra,
        jwks.url,
        NO_NOTIFIER,
        f"ka-{infra.run_id}",
        ping_interval_seconds=0.5,
        ping_timeout_seconds=0.5,
    )
    try:
        # A raw socket does the handshake, then never reads again: it answers no ping.
        dead = socket.create_connection(("127.0.0.1", pinging.port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        dead.sendall(
            (
                f"GET /ws/notifications/?token={mint.access(51)} HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{pinging.port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        assert dead.recv(4096).startswith(b"HTTP/1.1 101")
        with connect(pinging.ws(mint.access(52))) as alive:
            assert pinging.instance_id in presence_of(redis_client, infra.namespace, 51)
            deadline = time.monotonic() + 20
            while pinging.metric("gateway_open_connections") != 1:
                assert time.monotonic() < deadline, "the silent peer was never dropped"
                time.sleep(0.1)
            alive.send('{"type":"ping","timestamp":"alive"}')
            assert json.loads(alive.recv(timeout=10)) == {"type": "pong", "timestamp": "alive"}
            while presence_of(redis_client, infra.namespace, 51):
                assert time.monotonic() < deadline, "the silent peer's presence stayed"
                time.sleep(0.1)
            assert pinging.instance_id in presence_of(redis_client, infra.namespace, 52)
        dead.close()
    finally:
        pinging.stop()

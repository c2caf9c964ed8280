"""Attacks on the real distributed stack (`make stack`: every process behind nginx).

Forged, stale and misused JWTs are refused by the tickets API, the notifier's inbox API and
the WebSocket handshake alike (401 and the code of API.md); so is a deactivated user's
access token; a client flooding its WebSocket is closed (1008) while another keeps
receiving its notifications; no token used (in headers or query strings) appears in any
process's output.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from harness.api import TicketsApi
from harness.infra import Infra
from harness.stack import RunningStack, running_stack
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

# Each HTTP API answers with one endpoint that needs nothing but a valid access token.
TICKETS_PROBE = "/api/auth/me/"
NOTIFIER_PROBE = "/api/notifications/unread-count/"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Forge:
    """Tokens made from a genuine one: the stack's own key, or none, or the wrong one."""

    key: Ed25519PrivateKey
    genuine: str
    used: list[str] = field(default_factory=list)

    @property
    def header(self) -> dict[str, Any]:
        header: dict[str, Any] = json.loads(unb64(self.genuine.split(".")[0]))
        return header

    @property
    def claims(self) -> dict[str, Any]:
        claims: dict[str, Any] = json.loads(unb64(self.genuine.split(".")[1]))
        return claims

    def signed(self, key: Ed25519PrivateKey | None = None, **changes: Any) -> str:
        claims = {**self.claims, "jti": uuid.uuid4().hex, **changes}
        token = jwt.encode(claims, key or self.key, algorithm="EdDSA", headers=self.header)
        self.used.append(token)
        return token

    def unsigned(self) -> str:
        header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        token = f"{header}.{b64(json.dumps(self.claims).encode())}."
        self.used.append(token)
        return token

    def hs256_with_the_public_key(self) -> str:
        """The algorithm-confusion attack: HMAC keyed with the published public key."""
        public = self.key.public_key()
        pem = public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        header = b64(json.dumps({**self.header, "alg": "HS256"}).encode())
        payload = b64(json.dumps(self.claims).encode())
        signature = hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        token = f"{header}.{payload}.{b64(signature)}"
        self.used.append(token)
        return token

    def tampered(self) -> str:
        header, payload, signature = self.genuine.split(".")
        claims = {**json.loads(unb64(payload)), "role": "ADMIN", "sub": "1"}
        token = f"{header}.{b64(json.dumps(claims).encode())}.{signature}"
        self.used.append(token)
        return token


@dataclass
class Attack:
    stack: RunningStack
    forge: Forge
    refresh: str

    def cases(self) -> dict[str, tuple[str, str]]:
        """name -> (token, the code each API answers with)."""
        now = int(time.time())
        forge = self.forge
        return {
            "alg none": (forge.unsigned(), "invalid_token"),
            "HS256 keyed with the public key": (
                forge.hs256_with_the_public_key(),
                "invalid_token",
            ),
            "a key never published": (
                forge.signed(Ed25519PrivateKey.generate()),
                "invalid_token",
            ),
            "expired": (forge.signed(iat=now - 900, nbf=now - 900, exp=now - 60), "token_expired"),
            "not yet valid": (forge.signed(nbf=now + 600, exp=now + 900), "invalid_token"),
            "another issuer": (forge.signed(iss="someone-else"), "invalid_token"),
            "another audience": (forge.signed(aud="another-system"), "invalid_token"),
            "tampered payload": (forge.tampered(), "invalid_token"),
            "a refresh token": (self.refresh, "invalid_token"),
        }

    def http(self, path: str, token: str) -> tuple[int, dict[str, Any]]:
        response = httpx.get(
            self.stack.base_url + path, headers={"Authorization": f"Bearer {token}"}, timeout=15
        )
        body: dict[str, Any] = response.json()
        return response.status_code, body

    def handshake(self, token: str) -> tuple[int, dict[str, Any]]:
        try:
            with connect(self.stack.ws_url(token), open_timeout=15):
                pass
        except InvalidStatus as refused:
            body: dict[str, Any] = json.loads(refused.response.body or b"{}")
            return refused.response.status_code, body
        return 101, {}


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("security")


@pytest.fixture(scope="module")
def stack(infra: Infra, state_dir: Path) -> Iterator[RunningStack]:
    with running_stack(
        infra,
        state_dir,
        TICKETS_LOGIN_FAILURES_PER_USERNAME="3",
        GATEWAY_HEARTBEAT_INTERVAL_SECONDS="1",
    ) as running:
        if running.info["base_url"] is None:
            pytest.skip("the stack ran without nginx; see its log in test-artifacts/logs")
        yield running


@pytest.fixture(scope="module")
def key(stack: RunningStack, state_dir: Path) -> Ed25519PrivateKey:
    """The stack's signing key (scripts/stack.py keeps it in its state directory)."""
    pem = (state_dir / "jwt-ed25519.pem").read_bytes()
    loaded = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(loaded, Ed25519PrivateKey)
    return loaded


@pytest.fixture(scope="module")
def admin(stack: RunningStack) -> TicketsApi:
    return TicketsApi(stack.base_url).login_as(stack.admin_username, stack.admin_password)


@pytest.fixture(scope="module")
def used_tokens() -> list[str]:
    return []


def test_forged_stale_and_misused_tokens_are_refused_everywhere(
    stack: RunningStack, key: Ed25519PrivateKey, admin: TicketsApi, used_tokens: list[str]
) -> None:
    client = admin.user_session("CLIENT")
    tokens = TicketsApi(stack.base_url).login(client.user["username"])  # type: ignore[index]
    attack = Attack(stack, Forge(key, tokens.access), tokens.refresh)
    # The genuine token passes everywhere (so each refusal below is the token's doing).
    assert attack.http(TICKETS_PROBE, tokens.access)[0] == 200
    assert attack.http(NOTIFIER_PROBE, tokens.access)[0] == 200
    assert attack.handshake(tokens.access)[0] == 101
    # A forged token signed with the right key passes too: the forge itself is faithful.
    assert attack.http(TICKETS_PROBE, attack.forge.signed())[0] == 200

    answers: dict[str, list[tuple[int, str]]] = {}
    expected: dict[str, list[tuple[int, str]]] = {}
    for name, (token, code) in attack.cases().items():
        answers[name] = [
            (status, body.get("code", ""))
            for status, body in (
                attack.http(TICKETS_PROBE, token),
                attack.http(NOTIFIER_PROBE, token),
                attack.handshake(token),
            )
        ]
        expected[name] = [(401, code)] * 3
    assert answers == expected
    used_tokens.extend([tokens.access, tokens.refresh, *attack.forge.used])


def test_tokens_of_one_kind_do_not_pass_as_the_other(
    stack: RunningStack, admin: TicketsApi, used_tokens: list[str]
) -> None:
    client = admin.user_session("CLIENT")
    tokens = TicketsApi(stack.base_url).login(client.user["username"])  # type: ignore[index]
    response = httpx.post(
        stack.base_url + "/api/auth/refresh/", json={"refresh": tokens.access}, timeout=15
    )
    assert (response.status_code, response.json()["code"]) == (401, "invalid_token")
    response = httpx.get(
        stack.base_url + TICKETS_PROBE,
        headers={"Authorization": f"Bearer {tokens.refresh}"},
        timeout=15,
    )
    assert (response.status_code, response.json()["code"]) == (401, "invalid_token")
    used_tokens.extend([tokens.access, tokens.refresh])


def test_a_deactivated_users_access_token_is_refused_by_the_apis_and_the_gateways(
    stack: RunningStack, key: Ed25519PrivateKey, admin: TicketsApi, used_tokens: list[str]
) -> None:
    user = admin.user_session("DEVELOPER")
    assert user.access is not None
    attack = Attack(stack, Forge(key, user.access), "")
    assert attack.http(NOTIFIER_PROBE, user.access)[0] == 200
    already_open = connect(stack.ws_url(user.access), open_timeout=15, legacy=True)
    ping(already_open, "before")
    admin.update_user(user.user["id"], is_active=False)  # type: ignore[index]
    status, body = attack.http(TICKETS_PROBE, user.access)
    assert (status, body["code"]) == (401, "invalid_token")
    # The notifier learns it from the user.updated event: shortly, not at once.
    deadline = time.monotonic() + 20
    while attack.http(NOTIFIER_PROBE, user.access)[0] == 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    status, body = attack.http(NOTIFIER_PROBE, user.access)
    assert (status, body) == (401, {"detail": "This account is inactive.", "code": "invalid_token"})
    # The gateways read the notifier's set of inactive users (filled with the same event).
    while attack.handshake(user.access)[0] == 101 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert attack.handshake(user.access) == (
        401,
        {"detail": "This account is inactive.", "code": "invalid_token"},
    )
    # The connection opened before is closed as an expired one would be, at the gateway's
    # next presence heartbeat (GATEWAY_HEARTBEAT_INTERVAL_SECONDS, 1 s in this stack).
    assert drain_until_closed(already_open) == 4401
    used_tokens.append(user.access)


def test_a_flooding_client_is_closed_while_another_keeps_receiving(
    stack: RunningStack, admin: TicketsApi, used_tokens: list[str]
) -> None:
    flooder = admin.user_session("DEVELOPER")
    watcher = admin.user_session("ADMIN")
    client = admin.user_session("CLIENT")
    project = admin.create_project()
    assert flooder.access
    assert watcher.access
    with (
        connect(stack.ws_url(flooder.access), open_timeout=15) as flood,
        connect(stack.ws_url(watcher.access), open_timeout=15) as watch,
    ):
        ping(watch, "ready")
        code = None
        try:
            for n in range(300):  # far past the burst (40) and the rate (20 per second)
                flood.send(json.dumps({"type": "ping", "timestamp": n}))
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else None
        code = code or drain_until_closed(flood)
        assert code == 1008
        titles = [f"During the flood {n}" for n in range(3)]
        for title in titles:
            client.create_ticket(project["id"], title=title)
        received = [json.loads(watch.recv(timeout=20)) for _ in titles]
        assert [n["notification_type"] for n in received] == ["ticket_created"] * 3
        assert [n["ticket"]["title"] for n in received] == titles
        ping(watch, "after")
    used_tokens.extend([flooder.access, watcher.access, client.access or ""])


def ping(ws: ClientConnection, stamp: str) -> None:
    ws.send(json.dumps({"type": "ping", "timestamp": stamp}))
    assert json.loads(ws.recv(timeout=15)) == {"type": "pong", "timestamp": stamp}


def drain_until_closed(ws: ClientConnection) -> int | None:
    try:
        for _ in range(5000):
            ws.recv(timeout=15)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None
    return None


def test_failed_logins_through_the_gateway_end_in_429_with_retry_after(
    stack: RunningStack, admin: TicketsApi
) -> None:
    user = admin.create_user("CLIENT")
    url = stack.base_url + "/api/auth/login/"
    answers = [
        httpx.post(url, json={"username": user["username"], "password": "guess"}, timeout=15)
        for _ in range(4)
    ]
    assert [answer.status_code for answer in answers] == [401, 401, 401, 429]
    assert answers[-1].json() == {
        "detail": "Too many failed login attempts; try again later.",
        "code": "too_many_requests",
    }
    assert 250 <= int(answers[-1].headers["Retry-After"]) <= 300
    assert admin.login_as(admin.create_user("CLIENT")["username"]).access


def test_no_token_appears_in_any_process_output(
    stack: RunningStack, used_tokens: list[str]
) -> None:
    """Runs last in this module: every token above went through headers or query strings."""
    assert len(used_tokens) >= 15
    output = stack.output()
    assert "/ws/notifications/" in output or "ws-gateway" in output  # the log is the stack's
    leaked = [token[:16] for token in used_tokens if token and token in output]
    signatures = [t.split(".")[-1] for t in used_tokens if t and len(t.split(".")[-1]) > 20]
    leaked += [s[:16] for s in signatures if s in output]
    assert leaked == []

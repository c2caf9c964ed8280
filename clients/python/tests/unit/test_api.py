from __future__ import annotations

import json

import httpx
import pytest

from incident_notify import ApiClient, ApiError, SessionExpired, Tokens


class FakeServer:
    """The few endpoints the client calls, answering like the real API."""

    def __init__(self) -> None:
        self.access = "access-1"
        self.refresh = "refresh-1"
        self.refreshes = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/auth/login/":
            body = json.loads(request.content)
            if body["password"] != "right":
                return error(401, "invalid_credentials", "Wrong username or password.")
            return httpx.Response(200, json=self.tokens() | {"user": {"id": 1}})
        if path == "/api/auth/refresh/":
            if json.loads(request.content)["refresh"] != self.refresh:
                return error(401, "invalid_token", "The refresh token was revoked.")
            self.refreshes += 1
            self.access = f"access-{self.refreshes + 1}"
            self.refresh = f"refresh-{self.refreshes + 1}"
            return httpx.Response(200, json=self.tokens())
        if request.headers.get("Authorization") != f"Bearer {self.access}":
            return error(401, "token_expired", "The token has expired.")
        if path == "/api/tickets/1/start/":
            return error(409, "invalid_transition", "A NEW ticket cannot be started.")
        if path == "/api/notifications/unread-count/":
            return httpx.Response(200, json={"unread": 3})
        if path == "/api/notifications/abc/read/":
            return httpx.Response(204)
        return httpx.Response(502, text="bad gateway")

    def tokens(self) -> dict[str, str]:
        return {"access": self.access, "refresh": self.refresh}


def error(status: int, code: str, detail: str) -> httpx.Response:
    return httpx.Response(status, json={"detail": detail, "code": code})


@pytest.fixture
def server() -> FakeServer:
    return FakeServer()


def client(server: FakeServer, tokens: Tokens | None = None) -> ApiClient:
    return ApiClient("http://api.test", tokens=tokens, transport=httpx.MockTransport(server))


async def test_login_keeps_the_tokens_for_later_requests(server: FakeServer) -> None:
    async with client(server) as api:
        await api.login("alice", "right")
        assert api.tokens == Tokens("access-1", "refresh-1")
        assert await api.unread_count() == 3
        await api.mark_read("abc")


async def test_error_bodies_become_api_errors(server: FakeServer) -> None:
    async with client(server) as api:
        with pytest.raises(ApiError) as wrong:
            await api.login("alice", "wrong")
        assert (wrong.value.status, wrong.value.code) == (401, "invalid_credentials")
        assert wrong.value.detail == "Wrong username or password."
        await api.login("alice", "right")
        with pytest.raises(ApiError) as conflict:
            await api.ticket_action(1, "start")
        assert (conflict.value.status, conflict.value.code) == (409, "invalid_transition")


async def test_a_body_without_detail_still_explains(server: FakeServer) -> None:
    async with client(server, Tokens("access-1", "refresh-1")) as api:
        with pytest.raises(ApiError) as failure:
            await api.tickets()
        assert failure.value.code == "http_502"
        assert failure.value.detail == "The server answered 502 Bad Gateway."


async def test_an_expired_access_token_is_renewed_once_and_the_request_replayed(
    server: FakeServer,
) -> None:
    async with client(server, Tokens("stale", "refresh-1")) as api:
        assert await api.unread_count() == 3
        assert api.tokens == Tokens("access-2", "refresh-2")
        assert server.refreshes == 1


async def test_renewals_of_the_same_stale_token_spend_the_refresh_token_once(
    server: FakeServer,
) -> None:
    async with client(server, Tokens("stale", "refresh-1")) as api:
        await api.renew(expired="stale")
        await api.renew(expired="stale")
        assert server.refreshes == 1


async def test_a_revoked_refresh_token_ends_the_session(server: FakeServer) -> None:
    async with client(server, Tokens("stale", "revoked")) as api:
        with pytest.raises(SessionExpired) as ended:
            await api.unread_count()
        assert ended.value.code == "invalid_token"


async def test_an_unreachable_server_is_a_network_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with ApiClient("http://api.test", transport=httpx.MockTransport(refuse)) as api:
        with pytest.raises(ApiError) as failure:
            await api.projects()
    assert failure.value.status == 0
    assert failure.value.code == "network_error"

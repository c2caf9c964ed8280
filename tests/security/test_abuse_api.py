"""Abuse of the HTTP APIs, in-process: login floods (429 + Retry-After), oversized bodies
(413), too-long fields (422), and CORS (none by default, an allowlist when configured)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import ADMIN, PASSWORD, TicketsApi, serving_tickets

LIMITS = {
    "login_failures_per_username": 3,
    "login_failures_per_address": 5,
    "login_failure_window_seconds": 60.0,
    "max_body_bytes": 4096,
}


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[TicketsApi]:
    async with serving_tickets(tmp_path, **LIMITS) as served:
        yield served


async def login(api: TicketsApi, username: str, password: str) -> tuple[int, Any, dict[str, str]]:
    """From the in-process transport's one client address."""
    response = await api.http.post(
        "/api/auth/login/", json={"username": username, "password": password}
    )
    return response.status_code, response.json(), dict(response.headers)


async def new_user(api: TicketsApi, admin: str, username: str) -> None:
    await api.ok(
        "POST",
        "/api/users/",
        admin,
        json={"username": username, "password": PASSWORD, "full_name": "U", "role": "CLIENT"},
    )


async def test_failed_logins_of_one_username_are_limited_with_retry_after(
    api: TicketsApi,
) -> None:
    admin = (await api.login(*ADMIN))["access"]
    await new_user(api, admin, "victim")
    await new_user(api, admin, "bystander")
    for _ in range(3):
        status, body, _ = await login(api, "victim", "guess")
        assert (status, body["code"]) == (401, "invalid_credentials")
    status, body, headers = await login(api, "victim", PASSWORD)  # even the right password
    assert (status, body["code"]) == (429, "too_many_requests")
    assert body["detail"] == "Too many failed login attempts; try again later."
    assert 1 <= int(headers["retry-after"]) <= 60
    status, body, _ = await login(api, "VICTIM", "guess")  # names are not case tricks
    assert status == 429
    # Another user logs in; a success clears that user's own count.
    status, _, _ = await login(api, "bystander", PASSWORD)
    assert status == 200


async def test_failed_logins_from_one_address_are_limited(api: TicketsApi) -> None:
    # Five failures over five different names (each under its own limit of three).
    for n in range(5):
        status, body, _ = await login(api, f"nobody{n}", "guess")
        assert (status, body["code"]) == (401, "invalid_credentials")
    status, body, headers = await login(api, ADMIN[0], ADMIN[1])
    assert (status, body["code"]) == (429, "too_many_requests")
    assert int(headers["retry-after"]) >= 1


async def test_the_limits_can_be_turned_off(tmp_path: Path) -> None:
    async with serving_tickets(
        tmp_path, login_failures_per_username=0, login_failures_per_address=0
    ) as api:
        for _ in range(12):
            status, _, _ = await login(api, ADMIN[0], "guess")
            assert status == 401
        assert (await login(api, ADMIN[0], ADMIN[1]))[0] == 200


async def test_an_oversized_body_is_refused_with_413(api: TicketsApi) -> None:
    admin = (await api.login(*ADMIN))["access"]
    big = {"name": "x" * 5000}
    status, body = await api.call("POST", "/api/projects/", admin, json=big)
    assert (status, body["code"]) == (413, "payload_too_large")
    assert body["detail"] == "The request body is larger than 4096 bytes."

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"name": "'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"}'

    response = await api.http.post(
        "/api/projects/",
        content=chunks(),
        headers={"Authorization": f"Bearer {admin}", "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    # Nothing was created, and a body under the limit is fine.
    assert await api.ok("GET", "/api/projects/", admin) == []
    assert await api.ok("POST", "/api/projects/", admin, json={"name": "ok"})


@pytest.mark.parametrize(
    ("path", "field", "body"),
    [
        ("/api/projects/", "name", {"name": "p" * 201}),
        (
            "/api/users/",
            "username",
            {"username": "u" * 151, "password": "pw", "full_name": "U", "role": "CLIENT"},
        ),
        (
            "/api/users/",
            "full_name",
            {"username": "u", "password": "pw", "full_name": "f" * 201, "role": "CLIENT"},
        ),
    ],
)
async def test_too_long_fields_are_refused_with_422(
    api: TicketsApi, path: str, field: str, body: dict[str, Any]
) -> None:
    admin = (await api.login(*ADMIN))["access"]
    status, answer = await api.call("POST", path, admin, json=body)
    assert (status, answer["code"]) == (422, "validation_error")
    assert f"'{field}'" in answer["detail"]


async def test_a_too_long_ticket_title_is_refused_with_422(api: TicketsApi) -> None:
    admin = (await api.login(*ADMIN))["access"]
    await new_user(api, admin, "client")
    client = (await api.login("client"))["access"]
    project = await api.ok("POST", "/api/projects/", admin, json={"name": "P"})
    ticket = {"priority": "LOW", "category": "BUG", "project_id": project["id"]}
    status, answer = await api.call(
        "POST", "/api/tickets/", client, json={**ticket, "title": "t" * 256}
    )
    assert (status, answer["code"]) == (422, "validation_error")
    assert "'title'" in answer["detail"]
    status, _ = await api.call("POST", "/api/tickets/", client, json={**ticket, "title": "t" * 255})
    assert status == 201


async def test_no_cross_origin_access_by_default(api: TicketsApi) -> None:
    preflight = await api.http.options(
        "/api/auth/login/",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    response = await api.http.get("/healthz", headers={"Origin": "https://evil.example"})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


async def test_cors_allows_only_the_configured_origins(tmp_path: Path) -> None:
    async with serving_tickets(tmp_path, cors_allowed_origins=["https://app.example"]) as api:
        allowed = await api.http.options(
            "/api/auth/login/",
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
        )
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        refused = await api.http.options(
            "/api/auth/login/",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in refused.headers
        simple = await api.http.get("/healthz", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in simple.headers

"""The inbox API over in-memory fakes, with real EdDSA tokens and a static JWKS."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from incident_auth import StaticKeySource, TokenVerifier
from incident_contracts import Role
from incident_notifier.adapters.prometheus_metrics import NotifierMetrics
from incident_notifier.domain.content import NotificationContent
from incident_notifier.domain.tickets import ChangeKind
from incident_notifier.domain.users import DirectoryUser
from incident_notifier.entrypoints.api import ApiServices, ReadinessCheck, create_app
from incident_notifier.service.inbox import Inbox
from incident_notifier.testing import InMemoryNotificationStore, InMemoryUserDirectory

ALICE, BOB, GONE = 7, 8, 9
KEY = Ed25519PrivateKey.generate()
JWKS = {"keys": [{**json.loads(OKPAlgorithm.to_jwk(KEY.public_key())), "kid": "k1"}]}
WHEN = datetime(2025, 12, 23, 10, 0, tzinfo=UTC)


def token(user_id: int, *, expires_in: int = 300, typ: str = "access", kid: str = "k1") -> str:
    now = int(time.time())
    claims = {
        "sub": str(user_id),
        "typ": typ,
        "role": "CLIENT",
        "username": f"user{user_id}",
        "iss": "incident-tickets",
        "aud": "incident",
        "iat": now,
        "nbf": now,
        "exp": now + expires_in,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, KEY, algorithm="EdDSA", headers={"kid": kid})


def auth(user_id: int) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(user_id)}"}


@dataclass
class FakeServices:
    inbox: Inbox
    verifier: TokenVerifier
    metrics: NotifierMetrics = field(default_factory=NotifierMetrics)
    readiness: list[ReadinessCheck] = field(default_factory=list)


@pytest.fixture
def store() -> InMemoryNotificationStore:
    return InMemoryNotificationStore()


@pytest.fixture
async def client(store: InMemoryNotificationStore) -> AsyncIterator[httpx.AsyncClient]:
    directory = InMemoryUserDirectory(
        [DirectoryUser(GONE, "gone", "Gone", Role.CLIENT.value, False, WHEN)]
    )
    verifier = TokenVerifier(StaticKeySource(JWKS), issuer="incident-tickets", audience="incident")
    wired = FakeServices(Inbox(store, directory), verifier, readiness=[("database", store.ping)])

    @asynccontextmanager
    async def open_services() -> AsyncIterator[ApiServices]:
        yield wired

    app = create_app(open_services)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://notifier"
        ) as test_client,
    ):
        yield test_client


async def seed(store: InMemoryNotificationStore, count: int) -> None:
    for n in range(count):
        content = NotificationContent(
            ChangeKind.TICKET_OPENED,
            f"Your ticket 'T{n}' has been opened and acknowledged by admin",
            {"id": n, "title": f"T{n}", "status": "OPENED", "status_display": "Opened"},
            WHEN + timedelta(minutes=n),
        )
        await store.record(uuid.uuid4(), "ticket.opened", [ALICE, BOB], content)


async def test_the_list_is_own_newest_first_with_read_state(
    client: httpx.AsyncClient, store: InMemoryNotificationStore
) -> None:
    await seed(store, 3)
    response = await client.get("/api/notifications/", headers=auth(ALICE))
    assert response.status_code == 200
    body = response.json()
    assert body["next"] is None
    assert [item["seq"] for item in body["results"]] == [3, 2, 1]
    newest = store.of(ALICE)[-1]
    assert body["results"][0] == {
        "id": str(newest.id),
        "seq": 3,
        "notification_type": "ticket_opened",
        "message": "Your ticket 'T2' has been opened and acknowledged by admin",
        "ticket": {"id": 2, "title": "T2", "status": "OPENED", "status_display": "Opened"},
        "timestamp": "2025-12-23T10:02:00Z",
        "is_read": False,
        "read_at": None,
    }
    assert {item["id"] for item in body["results"]} == {str(r.id) for r in store.of(ALICE)}


async def test_cursor_pagination_walks_every_record_once(
    client: httpx.AsyncClient, store: InMemoryNotificationStore
) -> None:
    await seed(store, 5)
    seen, cursor = [], None
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        body = (await client.get("/api/notifications/", params=params, headers=auth(ALICE))).json()
        seen += [item["seq"] for item in body["results"]]
        cursor = body["next"]
        if cursor is None:
            break
    assert seen == [5, 4, 3, 2, 1]


async def test_read_unread_count_and_read_all(
    client: httpx.AsyncClient, store: InMemoryNotificationStore
) -> None:
    await seed(store, 3)
    oldest = store.of(ALICE)[0]
    assert (await client.get("/api/notifications/unread-count/", headers=auth(ALICE))).json() == {
        "unread": 3
    }
    response = await client.post(f"/api/notifications/{oldest.id}/read/", headers=auth(ALICE))
    assert (response.status_code, response.content) == (204, b"")
    unread = await client.get("/api/notifications/", params={"unread": "true"}, headers=auth(ALICE))
    assert [item["seq"] for item in unread.json()["results"]] == [3, 2]
    listed = (await client.get("/api/notifications/", headers=auth(ALICE))).json()["results"]
    assert listed[-1]["is_read"] is True
    assert listed[-1]["read_at"].endswith("Z")
    assert (await client.post("/api/notifications/read-all/", headers=auth(ALICE))).json() == {
        "updated": 2
    }
    assert (await client.get("/api/notifications/unread-count/", headers=auth(ALICE))).json() == {
        "unread": 0
    }
    assert (await client.get("/api/notifications/unread-count/", headers=auth(BOB))).json() == {
        "unread": 3
    }


async def test_a_user_cannot_mark_anothers_notification(
    client: httpx.AsyncClient, store: InMemoryNotificationStore
) -> None:
    await seed(store, 1)
    bobs = store.of(BOB)[0]
    for notification_id in (str(bobs.id), str(uuid.uuid4()), "not-a-uuid"):
        response = await client.post(
            f"/api/notifications/{notification_id}/read/", headers=auth(ALICE)
        )
        assert response.status_code == 404
        assert response.json() == {"detail": "No such notification.", "code": "not_found"}
    assert store.of(BOB)[0].is_read is False


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "not_authenticated"),
        ({"Authorization": "Basic abc"}, "invalid_token"),
        ({"Authorization": "Bearer not.a.token"}, "invalid_token"),
        ({"Authorization": f"Bearer {token(ALICE, expires_in=-10)}"}, "token_expired"),
        ({"Authorization": f"Bearer {token(ALICE, typ='refresh')}"}, "invalid_token"),
        ({"Authorization": f"Bearer {token(ALICE, kid='other')}"}, "invalid_token"),
        ({"Authorization": f"Bearer {token(GONE)}"}, "invalid_token"),
    ],
)
async def test_unauthenticated_requests_get_401_with_the_api_code(
    client: httpx.AsyncClient, headers: dict[str, str], code: str
) -> None:
    for method, path in [
        ("GET", "/api/notifications/"),
        ("GET", "/api/notifications/unread-count/"),
        ("POST", "/api/notifications/read-all/"),
    ]:
        response = await client.request(method, path, headers=headers)
        assert response.status_code == 401
        assert response.json()["code"] == code
        assert set(response.json()) == {"detail", "code"}


async def test_a_bad_cursor_and_a_bad_limit_are_client_errors(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/notifications/", params={"cursor": "zzz"}, headers=auth(ALICE)
    )
    assert (response.status_code, response.json()["code"]) == (400, "invalid_cursor")
    response = await client.get("/api/notifications/", params={"limit": 0}, headers=auth(ALICE))
    assert (response.status_code, response.json()["code"]) == (422, "validation_error")


async def test_replay_returns_a_users_records_after_a_seq_ascending(
    client: httpx.AsyncClient, store: InMemoryNotificationStore
) -> None:
    await seed(store, 4)
    response = await client.get(
        f"/internal/notifications/{ALICE}/", params={"after_seq": 1, "limit": 2}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["has_more"] is True
    assert [item["seq"] for item in body["results"]] == [2, 3]
    assert set(body["results"][0]) == {
        "id",
        "seq",
        "notification_type",
        "message",
        "ticket",
        "timestamp",
    }
    rest = (await client.get(f"/internal/notifications/{ALICE}/", params={"after_seq": 3})).json()
    assert ([item["seq"] for item in rest["results"]], rest["has_more"]) == ([4], False)


async def test_health_readiness_and_metrics(
    client: httpx.AsyncClient, store: InMemoryNotificationStore
) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).status_code == 200
    store.unavailable = True
    not_ready = await client.get("/readyz")
    assert not_ready.status_code == 503
    assert not_ready.json()["failed"] == ["database: The in-memory store is switched off."]
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert "notifier_records_written_total" in metrics.text


async def test_a_database_outage_is_a_503_with_the_error_body(
    client: httpx.AsyncClient, store: InMemoryNotificationStore
) -> None:
    store.unavailable = True
    response = await client.get("/api/notifications/", headers=auth(ALICE))
    assert response.status_code == 503
    assert response.json()["code"] == "unavailable"


async def test_unknown_routes_answer_with_the_error_body(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/nothing-here/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found", "code": "not_found"}

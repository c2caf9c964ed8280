"""Schemathesis against the tickets and notifier OpenAPI schemas, in-process.

Each operation of each schema gets a bounded number of generated requests (valid and
invalid), sent with a real access token to the real FastAPI app (the tickets API over SQLite
with a fake broker, the inbox API over in-memory fakes). Every response must be no 5xx, of
the documented content type, and match the documented schema when documented; a request
that breaks the schema must be refused with a 4xx.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
import pytest
import schemathesis
from anyio.from_thread import BlockingPortal, start_blocking_portal
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from jwt.algorithms import OKPAlgorithm

from incident_auth import StaticKeySource, TokenVerifier
from incident_contracts import Role
from incident_notifier.adapters.prometheus_metrics import NotifierMetrics
from incident_notifier.domain.content import NotificationContent
from incident_notifier.domain.tickets import ChangeKind
from incident_notifier.domain.users import DirectoryUser
from incident_notifier.entrypoints.api import ApiServices, ReadinessCheck
from incident_notifier.entrypoints.api import create_app as create_notifier_app
from incident_notifier.service.inbox import Inbox, encode_cursor
from incident_notifier.testing import InMemoryNotificationStore, InMemoryUserDirectory
from incident_tickets.bootstrap import build
from incident_tickets.config import Settings
from incident_tickets.entrypoints.api import create_app as create_tickets_app
from incident_tickets.testing import InMemoryEventPublisher

EXAMPLES = 12
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.negative_data_rejection,
]
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)


@dataclass
class Target:
    """An app served on an event loop of its own thread, called synchronously."""

    portal: BlockingPortal
    client: httpx.AsyncClient
    token: str = ""

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request; with the target's token unless ``headers`` are given."""
        if "headers" not in kwargs and self.token:
            kwargs["headers"] = {"Authorization": f"Bearer {self.token}"}

        async def send() -> httpx.Response:
            return await self.client.request(method, url, **kwargs)

        return self.portal.call(send)

    def check(self, case: schemathesis.Case[Any]) -> None:
        kwargs = case.as_transport_kwargs(base_url="http://testserver")
        headers = {"Authorization": f"Bearer {self.token}", **(kwargs.pop("headers", {}) or {})}
        if not kwargs.get("cookies"):
            kwargs.pop("cookies", None)
        if isinstance(kwargs.get("data"), bytes | str):  # raw bodies, in httpx's words
            kwargs["content"] = kwargs.pop("data")
        response = self.request(kwargs.pop("method"), kwargs.pop("url"), headers=headers, **kwargs)
        case.validate_response(response, checks=CHECKS)


def fuzz(target: Target, schema: Any) -> list[str]:
    """Every operation of ``schema``, EXAMPLES generated requests each; the ones fuzzed."""
    fuzzed: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @FUZZ
        @given(operation.as_strategy())
        def run(case: schemathesis.Case[Any]) -> None:
            target.check(case)

        run()
        fuzzed.append(f"{operation.method.upper()} {operation.path}")
    assert len(fuzzed) >= 4, fuzzed
    return fuzzed


@contextmanager
def serving(app: FastAPI) -> Iterator[Target]:
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(app.router.lifespan_context(app)),
    ):
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://testserver",
        )
        try:
            yield Target(portal, client)
        finally:
            portal.call(client.aclose)


# --- tickets -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tickets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    data = tmp_path_factory.mktemp("tickets")
    settings = Settings(
        database_url=f"sqlite:///{data / 'tickets.db'}",
        data_dir=data,
        argon2_time_cost=1,
        argon2_memory_cost_kib=64,
        argon2_parallelism=1,
        relay_sweep_interval=0.05,
        bootstrap_admin_username="root",
        bootstrap_admin_password="root-password",
    )
    runtime = build(settings, publisher=InMemoryEventPublisher())
    with serving(create_tickets_app(runtime)) as target:
        login = target.request(
            "POST", "/api/auth/login/", json={"username": "root", "password": "root-password"}
        )
        assert login.status_code == 200, login.text
        target.token = login.json()["access"]
        yield target


@pytest.fixture(scope="module")
def tickets_schema(tickets: Target) -> Any:
    return schemathesis.openapi.from_dict(tickets.request("GET", "/api/openapi.json").json())


def test_tickets_api_answers_every_generated_request_by_its_schema(
    tickets: Target, tickets_schema: Any
) -> None:
    fuzz(tickets, tickets_schema)


# --- notifier ------------------------------------------------------------------------------
KEY = Ed25519PrivateKey.generate()
JWKS = {"keys": [{**json.loads(OKPAlgorithm.to_jwk(KEY.public_key())), "kid": "k1"}]}
USER = 7


def access_token(user_id: int) -> str:
    now = int(time.time())
    claims = {
        "sub": str(user_id),
        "typ": "access",
        "role": "CLIENT",
        "username": f"user{user_id}",
        "iss": "incident-tickets",
        "aud": "incident",
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, KEY, algorithm="EdDSA", headers={"kid": "k1"})


@dataclass
class FakeServices:
    inbox: Inbox
    verifier: TokenVerifier
    metrics: NotifierMetrics = field(default_factory=NotifierMetrics)
    readiness: list[ReadinessCheck] = field(default_factory=list)


def notifier_services() -> Callable[[], AbstractAsyncContextManager[ApiServices]]:
    """The inbox API's services over in-memory fakes, with three records of USER."""
    store = InMemoryNotificationStore()
    when = datetime(2025, 12, 23, 10, 0, tzinfo=UTC)
    directory = InMemoryUserDirectory(
        [DirectoryUser(USER, "user7", "User Seven", Role.CLIENT.value, True, when)]
    )
    verifier = TokenVerifier(StaticKeySource(JWKS), issuer="incident-tickets", audience="incident")
    wired = FakeServices(Inbox(store, directory), verifier, readiness=[("database", store.ping)])

    @asynccontextmanager
    async def open_services() -> AsyncIterator[ApiServices]:
        for n in range(3):
            content = NotificationContent(
                ChangeKind.TICKET_OPENED,
                f"Your ticket 'T{n}' has been opened and acknowledged by admin",
                {"id": n, "title": f"T{n}", "status": "OPENED", "status_display": "Opened"},
                when,
            )
            await store.record(uuid.uuid4(), "ticket.opened", [USER], content)
        yield wired

    return open_services


@pytest.fixture(scope="module")
def notifier() -> Iterator[Target]:
    with serving(create_notifier_app(notifier_services())) as target:
        target.token = access_token(USER)
        yield target


@pytest.fixture(scope="module")
def notifier_schema(notifier: Target) -> Any:
    return schemathesis.openapi.from_dict(notifier.request("GET", "/openapi.json").json())


def test_notifier_api_answers_every_generated_request_by_its_schema(
    notifier: Target, notifier_schema: Any
) -> None:
    fuzz(notifier, notifier_schema)


def test_both_schemas_are_fuzzed(tickets_schema: Any, notifier_schema: Any) -> None:
    tickets_paths = set(tickets_schema.raw_schema["paths"])
    assert {"/api/auth/login/", "/api/tickets/", "/api/tickets/{ticket_id}/reject/"} <= (
        tickets_paths
    )
    assert "/api/notifications/{notification_id}/read/" in notifier_schema.raw_schema["paths"]


def test_a_forged_inbox_cursor_is_a_400_not_a_500(notifier: Target) -> None:
    """Found while fuzzing: a cursor of Unicode digits ("²") or past BIGINT reached int()
    or the database."""
    prefix = base64.urlsafe_b64decode(encode_cursor(5) + "==").decode()[:-1]
    for digits in ("²", "1" * 30, "9223372036854775808"):
        cursor = base64.urlsafe_b64encode((prefix + digits).encode()).decode().rstrip("=")
        response = notifier.request("GET", "/api/notifications/", params={"cursor": cursor})
        assert response.status_code == 400, (digits, response.text)
        assert response.json()["code"] == "invalid_cursor"
    response = notifier.request(
        "GET", "/api/notifications/", params={"cursor": encode_cursor(2**63 - 1)}
    )
    assert response.status_code == 200


def test_the_notifier_allows_no_cross_origin_calls_unless_configured(notifier: Target) -> None:
    preflight = {"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    answer = notifier.request("OPTIONS", "/api/notifications/", headers=preflight)
    assert "access-control-allow-origin" not in answer.headers
    app = create_notifier_app(notifier_services(), ["https://app.example"])
    with serving(app) as configured:
        allowed = {**preflight, "Origin": "https://app.example"}
        answer = configured.request("OPTIONS", "/api/notifications/", headers=allowed)
        assert answer.status_code == 200
        assert answer.headers["access-control-allow-origin"] == "https://app.example"
        answer = configured.request("OPTIONS", "/api/notifications/", headers=preflight)
        assert "access-control-allow-origin" not in answer.headers

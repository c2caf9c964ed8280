"""Tokens of the real tickets process: refresh rotation and reuse, JWKS, deactivation."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from harness.api import ApiError, TicketsApi
from harness.infra import Infra
from harness.tickets import RunningTickets, start_tickets

from incident_auth import HttpJwksSource, TokenRejected, TokenVerifier
from incident_contracts.tokens import DEFAULT_AUDIENCE, DEFAULT_ISSUER, TokenType


@pytest.fixture(scope="module")
def tickets(infra: Infra) -> Iterator[RunningTickets]:
    running = start_tickets(infra)
    yield running
    running.stop()


@pytest.fixture
def admin(tickets: RunningTickets) -> TicketsApi:
    return TicketsApi(tickets.url).login_as(tickets.admin_username, tickets.admin_password)


def test_reusing_a_rotated_refresh_token_revokes_its_family(
    tickets: RunningTickets, admin: TicketsApi
) -> None:
    user = admin.create_user("CLIENT")
    anonymous = TicketsApi(tickets.url)
    first = anonymous.login(user["username"])
    second = anonymous.refresh(first.refresh)
    third = anonymous.refresh(second.refresh)
    assert anonymous.with_token(third.access).me()["id"] == user["id"]

    with pytest.raises(ApiError) as reuse:
        anonymous.refresh(first.refresh)
    assert (reuse.value.status, reuse.value.body["code"]) == (401, "invalid_token")
    with pytest.raises(ApiError) as revoked:
        anonymous.refresh(third.refresh)  # the latest token of the family went with it
    assert (revoked.value.status, revoked.value.body["code"]) == (401, "invalid_token")

    other_device = anonymous.login(user["username"])  # another family is untouched
    assert anonymous.refresh(other_device.refresh).access


async def test_the_jwks_verifies_an_issued_token(
    tickets: RunningTickets, admin: TicketsApi
) -> None:
    user = admin.create_user("DEVELOPER", full_name="Alice Developer")
    tokens = TicketsApi(tickets.url).login(user["username"])
    async with httpx.AsyncClient() as http:
        verifier = TokenVerifier(
            HttpJwksSource(tickets.jwks_url, http),
            issuer=DEFAULT_ISSUER,
            audience=DEFAULT_AUDIENCE,
        )
        access = await verifier.verify(tokens.access)
        refresh = await verifier.verify(tokens.refresh, TokenType.REFRESH)
        with pytest.raises(TokenRejected):
            await verifier.verify(tokens.access[:-4] + "AAAA")
    assert (access.user_id, access.role, access.username) == (
        user["id"],
        "DEVELOPER",
        user["username"],
    )
    assert refresh.fam
    assert refresh.user_id == user["id"]


def test_a_deactivated_user_is_locked_out(tickets: RunningTickets, admin: TicketsApi) -> None:
    user = admin.create_user("CLIENT")
    session = admin.login_as(user["username"])
    assert session.me()["id"] == user["id"]  # the user is now kept for its next requests
    assert admin.update_user(user["id"], is_active=False)["is_active"] is False
    with pytest.raises(ApiError) as refused:
        session.me()
    assert (refused.value.status, refused.value.body["code"]) == (401, "invalid_token")
    with pytest.raises(ApiError) as login:
        TicketsApi(tickets.url).login(user["username"])
    assert (login.value.status, login.value.body["code"]) == (401, "invalid_credentials")

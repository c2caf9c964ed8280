"""Authentication over HTTP: status codes and bodies of API.md."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from incident_auth import StaticKeySource, TokenVerifier
from incident_contracts.enums import Role
from incident_contracts.tokens import TokenType
from incident_tickets.adapters.jwt_tokens import JwtTokenIssuer
from incident_tickets.domain.users import User

from .conftest import ADMIN, Api


async def test_login_answers_tokens_and_the_user(api: Api) -> None:
    status, body = await api.call(
        "POST", "/api/auth/login/", json={"username": ADMIN[0], "password": ADMIN[1]}
    )
    assert status == 200
    assert set(body) == {"access", "refresh", "user"}
    assert body["user"] == {
        "id": 1,
        "username": "root",
        "full_name": "Administrator",
        "role": "ADMIN",
        "is_active": True,
    }
    assert (await api.ok("GET", "/api/auth/me/", body["access"]))["username"] == "root"


@pytest.mark.parametrize(("username", "password"), [("root", "wrong"), ("nobody", "root-password")])
async def test_bad_credentials_are_one_error(api: Api, username: str, password: str) -> None:
    status, body = await api.call(
        "POST", "/api/auth/login/", json={"username": username, "password": password}
    )
    assert (status, body) == (
        401,
        {"detail": "The username or password is incorrect.", "code": "invalid_credentials"},
    )


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "not_authenticated"),
        ("Basic cm9vdDpyb290", "not_authenticated"),
        ("Bearer", "not_authenticated"),
        ("Bearer a b", "not_authenticated"),
        ("Bearer not-a-jwt", "invalid_token"),
    ],
)
async def test_missing_or_odd_credentials(api: Api, header: str | None, code: str) -> None:
    headers = {"Authorization": header} if header else {}
    response = await api.http.get("/api/tickets/", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == code
    assert response.json()["detail"]


async def test_an_expired_token_is_token_expired(api: Api) -> None:
    settings = api.runtime.settings
    past = datetime.now(UTC) - timedelta(hours=1)
    issuer = JwtTokenIssuer(
        api.runtime.signing_key,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        access_ttl_seconds=60,
        refresh_ttl_seconds=60,
        clock=lambda: past,
    )
    admin = User("root", "Administrator", Role.ADMIN, password_hash="", id=1)
    expired = issuer.access_token(admin).token
    status, body = await api.call("GET", "/api/auth/me/", expired)
    assert (status, body["code"]) == (401, "token_expired")


async def test_a_refresh_token_is_not_an_access_token(api: Api) -> None:
    tokens = await api.login(*ADMIN)
    status, body = await api.call("GET", "/api/auth/me/", tokens["refresh"])
    assert (status, body["code"]) == (401, "invalid_token")
    status, body = await api.call("POST", "/api/auth/refresh/", json={"refresh": tokens["access"]})
    assert (status, body["code"]) == (401, "invalid_token")


async def test_a_tampered_token_is_refused(api: Api) -> None:
    header, payload, signature = api.admin_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["role"] = "ADMIN"
    claims["sub"] = "2"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    status, body = await api.call("GET", "/api/auth/me/", f"{header}.{forged}.{signature}")
    assert (status, body["code"]) == (401, "invalid_token")


async def test_refresh_rotates_and_reuse_revokes_the_family(api: Api) -> None:
    first = await api.login(*ADMIN)
    status, second = await api.call(
        "POST", "/api/auth/refresh/", json={"refresh": first["refresh"]}
    )
    assert status == 200
    assert set(second) == {"access", "refresh"}
    assert (await api.ok("GET", "/api/auth/me/", second["access"]))["username"] == "root"

    status, body = await api.call("POST", "/api/auth/refresh/", json={"refresh": first["refresh"]})
    assert (status, body["code"]) == (401, "invalid_token")
    status, body = await api.call("POST", "/api/auth/refresh/", json={"refresh": second["refresh"]})
    assert (status, body["code"]) == (401, "invalid_token")


async def test_a_deactivated_users_tokens_are_refused(api: Api) -> None:
    user, token = await api.user("DEVELOPER")
    assert (await api.ok("GET", "/api/auth/me/", token))["id"] == user["id"]
    await api.ok("PATCH", f"/api/users/{user['id']}/", api.admin_token, json={"is_active": False})
    status, body = await api.call("GET", "/api/auth/me/", token)
    assert (status, body["code"]) == (401, "invalid_token")


async def test_the_jwks_verifies_issued_tokens(api: Api) -> None:
    jwks = await api.ok("GET", "/.well-known/jwks.json")
    assert [key["kty"] for key in jwks["keys"]] == ["OKP"]
    assert jwks["keys"][0]["kid"] == api.runtime.signing_key.kid
    settings = api.runtime.settings
    verifier = TokenVerifier(
        StaticKeySource(jwks), issuer=settings.jwt_issuer, audience=settings.jwt_audience
    )
    tokens = await api.login(*ADMIN)
    access = await verifier.verify(tokens["access"])
    refresh = await verifier.verify(tokens["refresh"], TokenType.REFRESH)
    assert (access.sub, access.role, access.username, access.typ) == (
        "1",
        "ADMIN",
        "root",
        TokenType.ACCESS,
    )
    assert access.exp - access.iat == 15 * 60
    assert refresh.exp - refresh.iat == 7 * 24 * 3600
    assert refresh.fam

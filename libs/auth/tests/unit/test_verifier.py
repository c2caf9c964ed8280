"""TokenVerifier refuses every token it must not trust, with the API's error codes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from incident_auth import (
    HttpJwksSource,
    StaticKeySource,
    TokenExpired,
    TokenRejected,
    TokenVerifier,
)
from incident_contracts.tokens import TokenType

ISSUER, AUDIENCE, KID = "incident-tickets", "incident", "key-1"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(key: Ed25519PrivateKey, kid: str = KID) -> dict[str, str]:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64(raw), "kid": kid, "alg": "EdDSA"}


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": "7",
        "typ": "access",
        "role": "CLIENT",
        "username": "john",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + 900,
        "jti": "abc",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(key: Ed25519PrivateKey, payload: dict[str, Any], kid: str = KID) -> str:
    return jwt.encode(payload, key, algorithm="EdDSA", headers={"kid": kid})


def unsigned(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    head = b64(json.dumps(header).encode())
    body = b64(json.dumps(payload).encode())
    return f"{head}.{body}.{b64(signature)}"


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def verifier(key: Ed25519PrivateKey) -> TokenVerifier:
    return TokenVerifier(
        StaticKeySource({"keys": [public_jwk(key)]}), issuer=ISSUER, audience=AUDIENCE
    )


async def test_a_good_token_gives_its_claims(
    key: Ed25519PrivateKey, verifier: TokenVerifier
) -> None:
    verified = await verifier.verify(sign(key, claims()))
    assert (verified.user_id, verified.role, verified.username, verified.typ) == (
        7,
        "CLIENT",
        "john",
        TokenType.ACCESS,
    )


async def test_alg_none_is_refused(key: Ed25519PrivateKey, verifier: TokenVerifier) -> None:
    token = unsigned({"alg": "none", "kid": KID, "typ": "JWT"}, claims())
    with pytest.raises(TokenRejected) as refusal:
        await verifier.verify(token)
    assert refusal.value.code == "invalid_token"
    assert not isinstance(refusal.value, TokenExpired)


async def test_hs256_signed_with_the_public_key_is_refused(
    key: Ed25519PrivateKey, verifier: TokenVerifier
) -> None:
    # The classic confusion attack: the public key used as an HMAC secret.
    secret = public_jwk(key)["x"].encode()
    header = b64(json.dumps({"alg": "HS256", "kid": KID}).encode())
    body = b64(json.dumps(claims()).encode())
    signature = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
    with pytest.raises(TokenRejected) as refusal:
        await verifier.verify(f"{header}.{body}.{b64(signature)}")
    assert refusal.value.code == "invalid_token"


async def test_a_token_signed_by_another_key_is_refused(verifier: TokenVerifier) -> None:
    with pytest.raises(TokenRejected) as refusal:
        await verifier.verify(sign(Ed25519PrivateKey.generate(), claims()))
    assert refusal.value.code == "invalid_token"


async def test_an_unknown_kid_is_refused(key: Ed25519PrivateKey, verifier: TokenVerifier) -> None:
    with pytest.raises(TokenRejected) as refusal:
        await verifier.verify(sign(key, claims(), kid="other"))
    assert "unknown key" in refusal.value.detail


async def test_an_expired_token_is_token_expired(
    key: Ed25519PrivateKey, verifier: TokenVerifier
) -> None:
    past = int(time.time()) - 3600
    with pytest.raises(TokenExpired) as refusal:
        await verifier.verify(sign(key, claims(iat=past, nbf=past, exp=past + 60)))
    assert refusal.value.code == "token_expired"


async def test_a_token_not_yet_valid_is_refused(
    key: Ed25519PrivateKey, verifier: TokenVerifier
) -> None:
    future = int(time.time()) + 3600
    with pytest.raises(TokenRejected) as refusal:
        await verifier.verify(sign(key, claims(nbf=future)))
    assert refusal.value.code == "invalid_token"


@pytest.mark.parametrize(
    "override",
    [{"iss": "someone-else"}, {"aud": "another-audience"}, {"jti": None}, {"exp": None}],
)
async def test_wrong_issuer_audience_or_missing_claims_are_refused(
    key: Ed25519PrivateKey, verifier: TokenVerifier, override: dict[str, Any]
) -> None:
    with pytest.raises(TokenRejected) as refusal:
        await verifier.verify(sign(key, claims(**override)))
    assert refusal.value.code == "invalid_token"


async def test_a_tampered_payload_is_refused(
    key: Ed25519PrivateKey, verifier: TokenVerifier
) -> None:
    header, _, signature = sign(key, claims()).split(".")
    forged = b64(json.dumps(claims(role="ADMIN", sub="1")).encode())
    with pytest.raises(TokenRejected) as refusal:
        await verifier.verify(f"{header}.{forged}.{signature}")
    assert refusal.value.code == "invalid_token"


async def test_refresh_and_access_tokens_are_not_interchangeable(
    key: Ed25519PrivateKey, verifier: TokenVerifier
) -> None:
    refresh = sign(key, claims(typ="refresh", fam="family-1"))
    access = sign(key, claims())
    assert (await verifier.verify(refresh, TokenType.REFRESH)).fam == "family-1"
    with pytest.raises(TokenRejected):
        await verifier.verify(refresh)
    with pytest.raises(TokenRejected):
        await verifier.verify(access, TokenType.REFRESH)


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "ey.ey.ey"])
async def test_garbage_is_refused(verifier: TokenVerifier, garbage: str) -> None:
    with pytest.raises(TokenRejected):
        await verifier.verify(garbage)


async def test_the_http_source_refetches_once_for_a_new_kid(key: Ed25519PrivateKey) -> None:
    served = {"keys": [public_jwk(key, "old")]}
    fetches = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal fetches
        fetches += 1
        return httpx.Response(200, json=served)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        source = HttpJwksSource(
            "http://tickets/.well-known/jwks.json", client, min_refresh_interval=0.0
        )
        verifier = TokenVerifier(source, issuer=ISSUER, audience=AUDIENCE)
        assert (await verifier.verify(sign(key, claims(), kid="old"))).sub == "7"
        served = {"keys": [public_jwk(key, "old"), public_jwk(key, "new")]}
        assert (await verifier.verify(sign(key, claims(), kid="new"))).sub == "7"
    assert fetches == 2

from __future__ import annotations

import base64
import json

from incident_notify import Tokens, token_expiry


def jwt_with(claims: dict[str, object]) -> str:
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"eyJhbGciOiJFZERTQSJ9.{body}.signature"


def test_the_expiry_is_read_from_the_payload() -> None:
    assert token_expiry(jwt_with({"exp": 1700000000, "sub": "1"})) == 1700000000.0


def test_an_unreadable_token_has_no_expiry() -> None:
    assert token_expiry("garbage") is None
    assert token_expiry("a.!!!.c") is None
    assert token_expiry(jwt_with({"sub": "1"})) is None


def test_renewal_is_due_a_margin_before_expiry() -> None:
    tokens = Tokens(access=jwt_with({"exp": 1000}), refresh="r")
    assert tokens.seconds_until_renewal(30, now=100) == 870
    assert tokens.expires_within(30, now=980)
    assert not tokens.expires_within(30, now=900)


def test_short_lifetimes_renew_half_way() -> None:
    tokens = Tokens(access=jwt_with({"exp": 1020}), refresh="r")
    assert tokens.seconds_until_renewal(30, now=1000) == 10


def test_without_a_refresh_token_nothing_is_renewed() -> None:
    assert Tokens(access=jwt_with({"exp": 1000})).seconds_until_renewal(30, now=0) is None

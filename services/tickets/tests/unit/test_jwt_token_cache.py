"""The reader remembers verified access tokens until they expire, and nothing else."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from incident_contracts.enums import Role
from incident_tickets.adapters.jwt_tokens import JwtTokenIssuer, JwtTokenReader, SigningKey
from incident_tickets.domain.errors import InvalidToken
from incident_tickets.domain.users import User


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).timestamp()

    def __call__(self) -> float:
        return self.now


def pair(clock: Clock) -> tuple[JwtTokenIssuer, JwtTokenReader]:
    key = SigningKey(Ed25519PrivateKey.generate())
    issuer = JwtTokenIssuer(
        key,
        issuer="iss",
        audience="aud",
        access_ttl_seconds=60,
        refresh_ttl_seconds=600,
        clock=lambda: datetime.now(UTC),
    )
    return issuer, JwtTokenReader(key, issuer="iss", audience="aud", cache_size=2, clock=clock)


USER = User(id=7, username="u", full_name="U", role=Role.CLIENT, password_hash="x")


async def test_an_access_token_is_verified_once_until_it_expires() -> None:
    clock = Clock()
    issuer, reader = pair(clock)
    token = issuer.access_token(USER).token
    first = await reader.read(token, refresh=False)
    assert await reader.read(token, refresh=False) is first
    clock.now = first.exp  # past its lifetime by the cache's clock: checked again in full
    assert await reader.read(token, refresh=False) is not first


async def test_refresh_tokens_and_rejected_tokens_are_not_remembered() -> None:
    clock = Clock()
    issuer, reader = pair(clock)
    refresh = issuer.refresh_token(USER, "family").token
    assert await reader.read(refresh, refresh=True) is not await reader.read(refresh, refresh=True)
    access = issuer.access_token(USER).token
    await reader.read(access, refresh=False)
    with pytest.raises(InvalidToken):
        await reader.read(access, refresh=True)  # a cached access token is still no refresh one
    signed, signature = access.rsplit(".", 1)
    forged = signature[:10] + ("B" if signature[10] == "A" else "A") + signature[11:]
    with pytest.raises(InvalidToken):
        await reader.read(f"{signed}.{forged}", refresh=False)


async def test_the_cache_is_bounded() -> None:
    clock = Clock()
    issuer, reader = pair(clock)
    tokens = [issuer.access_token(replace(USER, id=n)).token for n in (1, 2, 3)]
    claims = [await reader.read(token, refresh=False) for token in tokens]
    assert await reader.read(tokens[0], refresh=False) is not claims[0]  # evicted
    assert await reader.read(tokens[2], refresh=False) is claims[2]

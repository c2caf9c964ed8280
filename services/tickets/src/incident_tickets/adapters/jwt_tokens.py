"""Ed25519-signed JWTs: the signing key, its JWKS, issuing and reading tokens."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from incident_auth import StaticKeySource, TokenExpired, TokenRejected, TokenVerifier
from incident_contracts.tokens import SIGNING_ALGORITHM, TokenClaims, TokenType
from incident_tickets.domain import errors
from incident_tickets.domain.users import User
from incident_tickets.service.ports import IssuedToken

log = logging.getLogger(__name__)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class SigningKey:
    """The private key, and the public JWK (``kid`` = its RFC 7638 thumbprint)."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self.private_key = private_key
        raw = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        x = _b64url(raw)
        canonical = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":"))
        self.kid = _b64url(hashlib.sha256(canonical.encode()).digest())
        self.public_jwk: dict[str, str] = {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": x,
            "kid": self.kid,
            "use": "sig",
            "alg": SIGNING_ALGORITHM,
        }

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.public_jwk]}

    @classmethod
    def from_pem(cls, pem: bytes) -> SigningKey:
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the JWT signing key must be an Ed25519 private key")
        return cls(key)

    @classmethod
    def load(cls, pem: str | None, path: Path | None, generated_path: Path) -> SigningKey:
        """From the PEM text, else the PEM file, else a key generated once at ``generated_path``."""
        if pem:
            return cls.from_pem(pem.encode())
        if path is not None:
            return cls.from_pem(path.read_bytes())
        if generated_path.exists():
            return cls.from_pem(generated_path.read_bytes())
        key = Ed25519PrivateKey.generate()
        generated_path.parent.mkdir(parents=True, exist_ok=True)
        data = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # Written readable by the owner only, and atomically so two processes agree on one key.
        temporary = generated_path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        try:
            os.link(temporary, generated_path)
        except FileExistsError:
            pass  # another process won the race; use its key
        finally:
            temporary.unlink()
        log.info("generated a new JWT signing key at %s", generated_path)
        return cls.from_pem(generated_path.read_bytes())


class JwtTokenIssuer:
    def __init__(
        self,
        key: SigningKey,
        *,
        issuer: str,
        audience: str,
        access_ttl_seconds: int,
        refresh_ttl_seconds: int,
        clock: Callable[[], datetime],
    ) -> None:
        self._key = key
        self._issuer = issuer
        self._audience = audience
        self._ttl = {TokenType.ACCESS: access_ttl_seconds, TokenType.REFRESH: refresh_ttl_seconds}
        self._clock = clock

    def access_token(self, user: User) -> IssuedToken:
        return self._issue(user, TokenType.ACCESS, None)

    def refresh_token(self, user: User, family: str) -> IssuedToken:
        return self._issue(user, TokenType.REFRESH, family)

    def _issue(self, user: User, typ: TokenType, family: str | None) -> IssuedToken:
        now = int(self._clock().timestamp())
        claims = TokenClaims(
            sub=str(user.id),
            typ=typ,
            role=user.role,
            username=user.username,
            iss=self._issuer,
            aud=self._audience,
            iat=now,
            nbf=now,
            exp=now + self._ttl[typ],
            jti=secrets.token_hex(16),
            fam=family,
        )
        token = jwt.encode(
            claims.model_dump(mode="json", exclude_none=True),
            self._key.private_key,
            algorithm=SIGNING_ALGORITHM,
            headers={"kid": self._key.kid},
        )
        return IssuedToken(token=token, claims=claims)


class JwtTokenReader:
    """Verifies with ``incident_auth``, exactly as the other services do, and speaks domain.

    A token whose signature and claims were verified is remembered until it expires, so
    the Ed25519 check (most of the cost of authenticating a request) runs once per token,
    not once per request. Only the token string can hit the cache, and a token that was
    valid stays valid until its ``exp`` (there is no revocation of access tokens: a
    deactivated user is refused by the user lookup that follows, not here).
    """

    def __init__(
        self,
        key: SigningKey,
        *,
        issuer: str,
        audience: str,
        cache_size: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._verifier = TokenVerifier(
            StaticKeySource(key.jwks()), issuer=issuer, audience=audience
        )
        self._verified: OrderedDict[str, TokenClaims] = OrderedDict()
        """Access tokens only: a refresh token is used once, remembering it buys nothing."""
        self._cache_size = cache_size
        self._clock = clock

    async def read(self, token: str, *, refresh: bool) -> TokenClaims:
        claims = None if refresh else self._verified.get(token)
        if claims is not None:
            if self._clock() < claims.exp:
                return claims
            del self._verified[token]  # expired: the full check below says so
        expected = TokenType.REFRESH if refresh else TokenType.ACCESS
        try:
            claims = await self._verifier.verify(token, expected)
        except TokenExpired as error:
            raise errors.TokenExpired(error.detail) from error
        except TokenRejected as error:
            raise errors.InvalidToken(error.detail) from error
        if refresh:
            return claims
        self._verified[token] = claims
        if len(self._verified) > self._cache_size:
            self._verified.popitem(last=False)  # the oldest entry, whatever its use
        return claims

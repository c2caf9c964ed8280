"""Token verification: signature, algorithm, issuer, audience, lifetime, and token type."""

from __future__ import annotations

from typing import ClassVar

import jwt
from pydantic import ValidationError

from incident_auth.keys import KeySource
from incident_contracts.tokens import SIGNING_ALGORITHM, TokenClaims, TokenType

_REQUIRED_CLAIMS = ["exp", "iat", "nbf", "sub", "jti", "iss", "aud"]


class TokenRejected(Exception):
    """The token must not be trusted; ``code`` is the API's error code."""

    code: ClassVar[str] = "invalid_token"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class TokenExpired(TokenRejected):
    code: ClassVar[str] = "token_expired"


class TokenVerifier:
    def __init__(
        self, keys: KeySource, *, issuer: str, audience: str, leeway_seconds: float = 0
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway_seconds

    async def verify(self, token: str, expected: TokenType = TokenType.ACCESS) -> TokenClaims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError as error:
            raise TokenRejected("The token is malformed.") from error
        # Pin the algorithm before looking at the key: "none" and HS256-with-the-public-key
        # tokens never reach the signature check.
        if header.get("alg") != SIGNING_ALGORITHM:
            raise TokenRejected("The token is not signed with the expected algorithm.")
        kid = header.get("kid")
        key = await self._keys.key_for(kid) if isinstance(kid, str) else None
        if key is None:
            raise TokenRejected("The token is signed with an unknown key.")
        try:
            payload = jwt.decode(
                token,
                key,
                algorithms=[SIGNING_ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": _REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError as error:
            raise TokenExpired("The token has expired.") from error
        except jwt.InvalidTokenError as error:
            raise TokenRejected(f"The token is invalid: {error}.") from error
        try:
            claims = TokenClaims.model_validate(payload)
        except ValidationError as error:
            raise TokenRejected("The token's claims are incomplete.") from error
        if claims.typ is not expected:
            raise TokenRejected(f"A {claims.typ.value} token cannot be used here.")
        return claims

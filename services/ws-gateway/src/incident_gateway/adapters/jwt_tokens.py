"""Access tokens checked with the tickets service's public keys (incident_auth)."""

from __future__ import annotations

from incident_auth import TokenRejected, TokenVerifier
from incident_gateway.domain.auth import Identity
from incident_gateway.domain.errors import InvalidToken


class JwtTokenAuthority:
    def __init__(self, verifier: TokenVerifier) -> None:
        self._verifier = verifier

    async def identify(self, token: str) -> Identity:
        try:
            claims = await self._verifier.verify(token)
            user_id = claims.user_id
        except TokenRejected as error:
            raise InvalidToken(error.detail, code=error.code) from error
        except ValueError as error:  # a subject that is no user id
            raise InvalidToken("The token's subject is not a user.") from error
        return Identity(user_id=user_id, expires_at=float(claims.exp))

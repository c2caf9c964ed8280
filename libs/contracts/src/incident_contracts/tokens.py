"""JWT claims issued by the tickets service and verified by the notifier and the gateways."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from incident_contracts.enums import Role

JWKS_PATH = "/.well-known/jwks.json"
DEFAULT_ISSUER = "incident-tickets"
DEFAULT_AUDIENCE = "incident"
SIGNING_ALGORITHM = "EdDSA"


class TokenType(StrEnum):
    ACCESS = "access"
    REFRESH = "refresh"


class TokenClaims(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    sub: str
    """The user id, as a string (RFC 7519)."""
    typ: TokenType
    role: Role
    username: str
    iss: str
    aud: str
    iat: int
    nbf: int
    exp: int
    jti: str
    fam: str | None = None
    """Refresh tokens only: the rotation family, revoked whole when a rotated token is reused."""

    @property
    def user_id(self) -> int:
        return int(self.sub)

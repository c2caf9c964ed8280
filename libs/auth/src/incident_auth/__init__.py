"""Verify access and refresh tokens signed by the tickets service.

The notifier and the gateways know only the tickets service's public keys (its JWKS), so
no secret is shared. Errors::

    TokenRejected            code "invalid_token"
      TokenExpired           code "token_expired"
"""

from incident_auth.keys import HttpJwksSource, KeySource, StaticKeySource
from incident_auth.verifier import TokenExpired, TokenRejected, TokenVerifier

__all__ = [
    "HttpJwksSource",
    "KeySource",
    "StaticKeySource",
    "TokenExpired",
    "TokenRejected",
    "TokenVerifier",
]

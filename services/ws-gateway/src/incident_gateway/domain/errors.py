"""The gateway's errors. Every one carries the API's machine code and an HTTP status::

GatewayError                  (root; never raised itself)
  HandshakeRefused            the upgrade is refused before it happens
    NotFound                  404 not_found: no such path
    NotAuthenticated          401 not_authenticated: no token at all
    InvalidToken              401 invalid_token / token_expired (the verifier's code)
    OriginNotAllowed          403 forbidden: Origin not in GATEWAY_ALLOWED_ORIGINS
    InvalidQuery              400 validation_error: e.g. a ``since`` that is no integer
  ReplayUnavailable           the notifier's stored records could not be read
"""

from __future__ import annotations


class GatewayError(Exception):
    """Root of the gateway's errors: ``detail`` is a sentence, ``code`` the machine code."""

    status: int = 500
    code: str = "internal_error"

    def __init__(self, detail: str, *, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code


class HandshakeRefused(GatewayError):
    """The WebSocket upgrade is answered with an HTTP error instead."""


class NotFound(HandshakeRefused):
    status = 404
    code = "not_found"


class NotAuthenticated(HandshakeRefused):
    status = 401
    code = "not_authenticated"


class InvalidToken(HandshakeRefused):
    status = 401
    code = "invalid_token"


class OriginNotAllowed(HandshakeRefused):
    status = 403
    code = "forbidden"


class InvalidQuery(HandshakeRefused):
    status = 400
    code = "validation_error"


class ReplayUnavailable(GatewayError):
    status = 503
    code = "replay_unavailable"

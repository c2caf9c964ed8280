"""What a WebSocket handshake asks for, read from its request line and headers (pure).

A client proves who it is with an access token, either in the query string
(``?token=...``, the seed guide's clients) or in ``Sec-WebSocket-Protocol: bearer, <token>``
(browsers, so that tokens stay out of URLs and access logs). Verifying the token's signature
needs the tickets service's keys, so it happens behind a port; this module only finds the
token, the ``since`` cursor and checks the Origin.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from incident_gateway.domain.errors import (
    InvalidQuery,
    NotAuthenticated,
    NotFound,
    OriginNotAllowed,
)

NOTIFICATIONS_PATHS = frozenset({"/ws/notifications/", "/ws/notifications"})
BEARER_SUBPROTOCOL = "bearer"
ACCOUNT_INACTIVE = "This account is inactive."
"""Why a deactivated user's token is refused, at the handshake and on an open connection."""


@dataclass(frozen=True, slots=True)
class Admission:
    """A handshake that names a token; the token is not verified yet."""

    token: str
    via_subprotocol: bool
    since: int | None


@dataclass(frozen=True, slots=True)
class Identity:
    """A verified access token's holder."""

    user_id: int
    expires_at: float
    """Unix seconds: the connection is closed with 4401 then unless refreshed."""


def split_target(target: str) -> tuple[str, dict[str, list[str]]]:
    """The request target's path and its query parameters."""
    parts = urlsplit(target)
    return parts.path, parse_qs(parts.query, keep_blank_values=True)


def read_admission(
    target: str,
    subprotocol_headers: Sequence[str],
    origin: str | None,
    allowed_origins: Iterable[str] = (),
) -> Admission:
    """The token and cursor of a handshake on the notifications path, or a refusal."""
    path, query = split_target(target)
    if path not in NOTIFICATIONS_PATHS:
        raise NotFound("There is nothing at this path.")
    check_origin(origin, allowed_origins)
    since = _since(query.get("since"))
    from_query = [value for value in query.get("token", []) if value]
    if from_query:
        return Admission(token=from_query[0], via_subprotocol=False, since=since)
    token = bearer_from_subprotocols(subprotocol_headers)
    if token is None:
        raise NotAuthenticated(
            "Authentication credentials were not provided: pass ?token=<access token> or "
            "the Sec-WebSocket-Protocol header 'bearer, <access token>'."
        )
    return Admission(token=token, via_subprotocol=True, since=since)


def bearer_from_subprotocols(headers: Sequence[str]) -> str | None:
    """The token offered as ``bearer, <token>`` among the offered subprotocols."""
    offered = [item.strip() for header in headers for item in header.split(",")]
    offered = [item for item in offered if item]
    for index, item in enumerate(offered[:-1]):
        if item.lower() == BEARER_SUBPROTOCOL:
            return offered[index + 1]
    return None


def check_origin(origin: str | None, allowed_origins: Iterable[str]) -> None:
    """Refuse a browser page from an Origin outside the allowlist (empty list: any)."""
    allowed = {value.rstrip("/").lower() for value in allowed_origins}
    # Clients outside browsers send no Origin; the token is what protects them.
    if not allowed or origin is None:
        return
    if origin.rstrip("/").lower() not in allowed:
        raise OriginNotAllowed("This Origin may not open notification connections.")


def _since(values: list[str] | None) -> int | None:
    if not values or values[0] == "":
        return None
    try:
        since = int(values[0])
    except ValueError:
        raise InvalidQuery("'since' must be a whole number (the last seq received).") from None
    if since < 0:
        raise InvalidQuery("'since' must not be negative.")
    return since

"""The tokens of a session, and when the access token expires."""

from __future__ import annotations

import base64
import binascii
import json
import time
from dataclasses import dataclass


def token_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT (unix seconds), or None when it cannot be read.

    The signature is not checked: the server does that. The client only needs to know when to
    renew the token.
    """
    try:
        part = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, int | float) else None


@dataclass
class Tokens:
    access: str
    refresh: str | None = None

    def expires_within(self, seconds: float, now: float | None = None) -> bool:
        exp = token_expiry(self.access)
        if exp is None:
            return False
        return exp - (time.time() if now is None else now) < seconds

    def seconds_until_renewal(self, margin: float, now: float | None = None) -> float | None:
        """When to renew: ``margin`` seconds before expiry (half-way for short lifetimes)."""
        exp = token_expiry(self.access)
        if exp is None or self.refresh is None:
            return None
        lifetime = exp - (time.time() if now is None else now)
        return max(0.0, lifetime - min(margin, lifetime / 2))

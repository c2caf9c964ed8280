"""Where verification keys come from: a fixed JWKS, or the tickets service over HTTP."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

import httpx
import jwt

log = logging.getLogger(__name__)


class KeySource(Protocol):
    async def key_for(self, kid: str) -> jwt.PyJWK | None:
        """The public key with this id, or None when it is unknown."""
        ...


def _index(jwks: dict[str, Any]) -> dict[str, jwt.PyJWK]:
    keys: dict[str, jwt.PyJWK] = {}
    for raw in jwks.get("keys", []):
        try:
            key = jwt.PyJWK(raw)
        except jwt.PyJWKError:
            log.warning("ignoring an unusable key in the JWKS (kid=%s)", raw.get("kid"))
            continue
        if key.key_id:
            keys[key.key_id] = key
    return keys


class StaticKeySource:
    """A JWKS known up front: the tickets service's own keys, the dev mode, unit tests."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        self._keys = _index(jwks)

    async def key_for(self, kid: str) -> jwt.PyJWK | None:
        return self._keys.get(kid)


class HttpJwksSource:
    """The JWKS fetched from the tickets service, cached, refetched on an unknown key id.

    A refetch for an unknown ``kid`` happens at most once per ``min_refresh_interval`` so a
    flood of forged key ids cannot turn into a flood of requests to the tickets service.
    """

    def __init__(
        self,
        url: str,
        client: httpx.AsyncClient,
        *,
        max_age: float = 300.0,
        min_refresh_interval: float = 10.0,
    ) -> None:
        self._url = url
        self._client = client
        self._max_age = max_age
        self._min_refresh_interval = min_refresh_interval
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def key_for(self, kid: str) -> jwt.PyJWK | None:
        age = time.monotonic() - self._fetched_at
        if age > self._max_age or (kid not in self._keys and age > self._min_refresh_interval):
            await self._refresh()
        return self._keys.get(kid)

    async def _refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._fetched_at <= self._min_refresh_interval:
                return  # another task refreshed while this one waited
            try:
                response = await self._client.get(self._url, timeout=5.0)
                response.raise_for_status()
                self._keys = _index(response.json())
            except (httpx.HTTPError, ValueError) as error:
                # Keep the keys already known: the tickets service being down must not
                # lock everyone out of the connections they already have.
                log.warning("could not fetch the JWKS from %s: %s", self._url, error)
            self._fetched_at = time.monotonic()

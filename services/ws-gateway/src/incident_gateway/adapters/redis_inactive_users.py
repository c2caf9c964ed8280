"""The deactivated users, as the notifier keeps them in a Redis set (``user.updated`` events
applied to its directory, ``Names.inactive_users_key``).

- ``RedisInactiveUsers`` looks users up in it: one ``SMISMEMBER`` for any number of them.
  The gateway's heartbeat asks about every local user and closes the connections of users
  deactivated since they connected.
- ``RedisCheckedTokenAuthority`` wraps the JWT check: a token that verifies is then looked
  up there (on the handshake's existing Redis connection). Found: 401 invalid_token, as the
  HTTP APIs answer. Redis unreachable: the token is admitted (presence registration then
  decides, as for anyone), since refusing everyone while Redis restarts would be worse than
  admitting a deactivated user who is sent no new notification anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from redis.asyncio import Redis
from redis.exceptions import RedisError

from incident_contracts.names import Names
from incident_gateway.domain.auth import ACCOUNT_INACTIVE, Identity
from incident_gateway.domain.errors import InvalidToken
from incident_gateway.service.ports import BackendUnavailable, InactiveUsers, TokenAuthority

log = logging.getLogger(__name__)


class RedisInactiveUsers:
    def __init__(self, client: Redis, names: Names) -> None:
        self._client = client
        self._key = names.inactive_users_key

    async def among(self, user_ids: Sequence[int]) -> set[int]:
        if not user_ids:
            return set()
        try:
            # SMISMEMBER: Redis 6.2 and later.
            found = await self._client.smismember(self._key, [str(u) for u in user_ids])
        except (RedisError, OSError, TimeoutError) as error:
            raise BackendUnavailable(f"Redis did not answer: {error}") from error
        return {user_id for user_id, member in zip(user_ids, found, strict=True) if member}


class RedisCheckedTokenAuthority:
    def __init__(self, tokens: TokenAuthority, inactive: InactiveUsers) -> None:
        self._tokens = tokens
        self._inactive = inactive

    async def identify(self, token: str) -> Identity:
        identity = await self._tokens.identify(token)
        try:
            inactive = await self._inactive.among([identity.user_id])
        except BackendUnavailable as error:
            log.warning("could not check whether user %d is inactive: %s", identity.user_id, error)
            return identity
        if inactive:
            raise InvalidToken(ACCOUNT_INACTIVE)
        return identity

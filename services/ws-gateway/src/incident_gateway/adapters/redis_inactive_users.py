"""Refuse the still-valid access tokens of deactivated users (the notifier's Redis set).

Wraps the JWT check: a token that verifies is then looked up (one SISMEMBER on the
handshake's existing Redis connection) in ``Names.inactive_users_key``, which the notifier
keeps from its directory (``user.updated`` events). Found: 401 invalid_token, as the HTTP
APIs answer. Redis unreachable: the token is admitted (presence registration then decides,
as for anyone), since refusing everyone while Redis restarts would be worse than admitting a
deactivated user who is sent no new notification anyway.
"""

from __future__ import annotations

import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

from incident_contracts.names import Names
from incident_gateway.domain.auth import Identity
from incident_gateway.domain.errors import InvalidToken
from incident_gateway.service.ports import TokenAuthority

log = logging.getLogger(__name__)


class RedisCheckedTokenAuthority:
    def __init__(self, tokens: TokenAuthority, client: Redis, names: Names) -> None:
        self._tokens = tokens
        self._client = client
        self._key = names.inactive_users_key

    async def identify(self, token: str) -> Identity:
        identity = await self._tokens.identify(token)
        try:
            inactive = await self._client.sismember(self._key, str(identity.user_id))
        except (RedisError, OSError, TimeoutError) as error:
            log.warning("could not check whether user %d is inactive: %s", identity.user_id, error)
            return identity
        if inactive:
            raise InvalidToken("This account is inactive.")
        return identity

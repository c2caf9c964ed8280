"""The directory's deactivated users, mirrored into a Redis set for the gateways.

A deactivated user's access token stays valid until it expires; the HTTP APIs refuse it
(the tickets service reads its users, the inbox API this directory), and the gateways, which
keep nothing but Redis, refuse it at the handshake by finding the user in this set.
``MirroredUserDirectory`` wraps the SQL directory: every ``apply`` (user events, and the
directory's first fill) then updates the set. A Redis failure is logged and never fails the
event (routing works the same way). The set then misses that user, as after a Redis restart
without persistence: the gateways admit the user's last access token until it expires (the
access-token lifetime at most), yet the user is refused by both HTTP APIs, cannot log in or
refresh, and is sent no new notification (recipients exclude inactive users).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence

from redis.asyncio import Redis
from redis.exceptions import RedisError

from incident_contracts import Names
from incident_notifier.domain.users import DirectoryUser
from incident_notifier.service.ports import Audience, UserDirectory

log = logging.getLogger(__name__)


class MirroredUserDirectory:
    def __init__(self, directory: UserDirectory, client: Redis, names: Names) -> None:
        self._directory = directory
        self._client = client
        self._key = names.inactive_users_key

    async def apply(self, users: Sequence[DirectoryUser]) -> int:
        changed = await self._directory.apply(users)
        if len(users) == 1:
            # One user event: it may be older than what is stored (a redelivery), so
            # mirror what the directory kept. A sync page is the current export anyway.
            stored = await self._directory.get(users[0].id)
            users = [stored] if stored is not None else []
        inactive = [user.id for user in users if not user.is_active]
        active = [user.id for user in users if user.is_active]
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                if inactive:
                    pipe.sadd(self._key, *inactive)
                if active:
                    pipe.srem(self._key, *active)
                await pipe.execute()
        except (RedisError, OSError, TimeoutError) as error:
            log.warning("could not mirror %d user(s) to Redis: %s", len(users), error)
        return changed

    async def is_empty(self) -> bool:
        return await self._directory.is_empty()

    async def audience(self, candidate_ids: Collection[int]) -> Audience:
        return await self._directory.audience(candidate_ids)

    async def get(self, user_id: int) -> DirectoryUser | None:
        return await self._directory.get(user_id)

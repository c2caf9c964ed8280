"""Use case: fill an empty directory from the tickets service's export of its users.

Without this a notifier started against a database that missed the ``user.*`` events (a
new database, a queue created after the users) would not know who the admins are.
"""

from __future__ import annotations

import logging

from incident_contracts.timestamps import utc_now
from incident_notifier.service.ports import UserDirectory, UsersSource
from incident_notifier.service.translation import directory_user

log = logging.getLogger(__name__)


async def fill_directory_if_empty(
    directory: UserDirectory, source: UsersSource, *, page_size: int = 500
) -> int | None:
    """Copy every exported user into an empty directory; returns how many (None: not empty).

    The export is stamped with the time it was read: a ``user.*`` event still queued from
    before that moment is older than what the export said, and is ignored when it arrives.
    """
    if not await directory.is_empty():
        return None
    as_of = utc_now()
    after_id, copied = 0, 0
    while True:
        page = await source.users_after(after_id, page_size)
        if page.results:
            await directory.apply([directory_user(user, as_of) for user in page.results])
            copied += len(page.results)
            after_id = max(user.id for user in page.results)
        if not page.has_more or not page.results:
            break
    log.info("directory filled with %d users from the tickets service", copied)
    return copied

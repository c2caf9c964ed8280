"""Use cases behind the inbox API and the gateways' replay endpoint."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from incident_contracts.timestamps import utc_now
from incident_notifier.domain.errors import AccountInactive, InvalidCursor, NotificationNotFound
from incident_notifier.domain.records import NotificationRecord
from incident_notifier.service.ports import NotificationStore, UserDirectory

DEFAULT_PAGE = 50
MAX_PAGE = 200
_CURSOR_PREFIX = "seq:"


def encode_cursor(seq: int) -> str:
    """Opaque to clients: the seq below which the next page starts."""
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise InvalidCursor() from error
    digits = raw[len(_CURSOR_PREFIX) :]
    # ASCII only ("²".isdigit() is true, int() refuses it) and within BIGINT.
    if not raw.startswith(_CURSOR_PREFIX) or not (digits.isascii() and digits.isdigit()):
        raise InvalidCursor()
    if len(digits) > 19 or int(digits) > 2**63 - 1:
        raise InvalidCursor()
    return int(digits)


@dataclass(frozen=True, slots=True)
class InboxPage:
    results: list[NotificationRecord]
    next_cursor: str | None


class Inbox:
    def __init__(
        self,
        store: NotificationStore,
        directory: UserDirectory,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._store = store
        self._directory = directory
        self._clock = clock

    async def ensure_active(self, user_id: int) -> None:
        """Refuse a user the directory marks inactive (a valid token outlives deactivation)."""
        user = await self._directory.get(user_id)
        if user is not None and not user.is_active:
            raise AccountInactive()

    async def listing(
        self, user_id: int, *, cursor: str | None, unread_only: bool, limit: int
    ) -> InboxPage:
        limit = max(1, min(limit, MAX_PAGE))
        before = decode_cursor(cursor) if cursor else None
        # One extra row tells whether there is a next page without a count query.
        rows = await self._store.page(
            user_id, before_seq=before, unread_only=unread_only, limit=limit + 1
        )
        page = rows[:limit]
        next_cursor = encode_cursor(page[-1].seq) if len(rows) > limit else None
        return InboxPage(page, next_cursor)

    async def unread_count(self, user_id: int) -> int:
        return await self._store.unread_count(user_id)

    async def mark_read(self, user_id: int, notification_id: str) -> None:
        try:
            parsed = UUID(notification_id)
        except ValueError as error:
            raise NotificationNotFound() from error
        if not await self._store.mark_read(user_id, parsed, self._clock()):
            raise NotificationNotFound()

    async def mark_all_read(self, user_id: int) -> int:
        return await self._store.mark_all_read(user_id, self._clock())

    async def replay(
        self, user_id: int, after_seq: int, limit: int
    ) -> tuple[list[NotificationRecord], bool]:
        """The user's records after ``after_seq``, ascending, and whether more follow."""
        limit = max(1, min(limit, MAX_PAGE))
        rows = await self._store.after_seq(user_id, after_seq, limit + 1)
        return rows[:limit], len(rows) > limit

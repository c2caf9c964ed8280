"""In-memory fakes of the ports, for unit tests and the embedded dev mode.

They keep the same guarantees as the real adapters where the use cases rely on them: an
event id is claimed once, seq rises by one per user, an older user statement never
overwrites a newer one.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import cast
from uuid import UUID

from incident_contracts import (
    Category,
    Delivery,
    EventType,
    Priority,
    Role,
    TicketEvent,
    TicketSnapshot,
    TicketStatus,
    UserCreated,
    UserUpdated,
)
from incident_contracts.events import (
    EVENT_MODELS,
    TicketAssignedPayload,
    TicketPayload,
    TicketRejectedPayload,
    UserSnapshot,
    UsersPage,
)
from incident_notifier.domain.content import NotificationContent
from incident_notifier.domain.errors import StoreUnavailable
from incident_notifier.domain.records import NotificationRecord
from incident_notifier.domain.users import DirectoryUser
from incident_notifier.service.ports import Audience, RecordRequest

__all__ = [
    "InMemoryDeliveryRouter",
    "InMemoryNotificationStore",
    "InMemoryUserDirectory",
    "InMemoryUsersSource",
    "ticket_event",
    "ticket_snapshot",
    "user_event",
]


class InMemoryNotificationStore:
    def __init__(self) -> None:
        self.records: list[NotificationRecord] = []
        self.processed: set[UUID] = set()
        self.last_seq: dict[int, int] = defaultdict(int)
        self.unavailable = False
        """Set to make every call raise ``StoreUnavailable``, as a database outage does."""
        self.failing_event_ids: set[UUID] = set()
        """A batch holding one of these fails as a whole, as a bad row fails a transaction."""

    def _check(self) -> None:
        if self.unavailable:
            raise StoreUnavailable("The in-memory store is switched off.")

    async def record_many(
        self, requests: Sequence[RecordRequest]
    ) -> list[list[NotificationRecord] | None]:
        self._check()
        if self.failing_event_ids & {request.event_id for request in requests}:
            raise RuntimeError("this event cannot be stored")  # nothing written: all or nothing
        written: list[list[NotificationRecord] | None] = []
        for request in requests:
            if request.event_id in self.processed:
                written.append(None)
                continue
            self.processed.add(request.event_id)
            records = []
            for user_id in sorted(set(request.recipient_ids)):
                self.last_seq[user_id] += 1
                records.append(
                    NotificationRecord(
                        uuid.uuid4(), user_id, self.last_seq[user_id], request.content
                    )
                )
            self.records.extend(records)
            written.append(records)
        return written

    async def record(
        self,
        event_id: UUID,
        event_type: str,
        recipient_ids: Sequence[int],
        content: NotificationContent,
    ) -> list[NotificationRecord] | None:
        """One event's records (a shortcut for seeding tests)."""
        [written] = await self.record_many(
            [RecordRequest(event_id, event_type, recipient_ids, content)]
        )
        return written

    def of(self, user_id: int) -> list[NotificationRecord]:
        return sorted((r for r in self.records if r.user_id == user_id), key=lambda r: r.seq)

    async def page(
        self, user_id: int, *, before_seq: int | None, unread_only: bool, limit: int
    ) -> list[NotificationRecord]:
        self._check()
        rows = [
            r
            for r in reversed(self.of(user_id))
            if (before_seq is None or r.seq < before_seq) and not (unread_only and r.is_read)
        ]
        return rows[:limit]

    async def unread_count(self, user_id: int) -> int:
        self._check()
        return sum(1 for r in self.of(user_id) if not r.is_read)

    def _replace(self, old: NotificationRecord, at: datetime) -> None:
        index = self.records.index(old)
        self.records[index] = NotificationRecord(
            old.id, old.user_id, old.seq, old.content, True, old.read_at or at
        )

    async def mark_read(self, user_id: int, notification_id: UUID, at: datetime) -> bool:
        self._check()
        for record in self.of(user_id):
            if record.id == notification_id:
                self._replace(record, at)
                return True
        return False

    async def mark_all_read(self, user_id: int, at: datetime) -> int:
        self._check()
        unread = [r for r in self.of(user_id) if not r.is_read]
        for record in unread:
            self._replace(record, at)
        return len(unread)

    async def after_seq(self, user_id: int, after_seq: int, limit: int) -> list[NotificationRecord]:
        self._check()
        return [r for r in self.of(user_id) if r.seq > after_seq][:limit]

    async def ping(self) -> None:
        self._check()


class InMemoryUserDirectory:
    def __init__(self, users: Sequence[DirectoryUser] = ()) -> None:
        self.users: dict[int, DirectoryUser] = {user.id: user for user in users}

    async def apply(self, users: Sequence[DirectoryUser]) -> int:
        changed = 0
        for user in users:
            known = self.users.get(user.id)
            if known is None or known.as_of <= user.as_of:
                self.users[user.id] = user
                changed += 1
        return changed

    async def is_empty(self) -> bool:
        return not self.users

    async def audience(self, candidate_ids: Collection[int]) -> Audience:
        admins = sorted(u.id for u in self.users.values() if u.is_active_admin)
        inactive = {i for i in candidate_ids if i in self.users and not self.users[i].is_active}
        return Audience(admins, inactive)

    async def get(self, user_id: int) -> DirectoryUser | None:
        return self.users.get(user_id)


class InMemoryUsersSource:
    """The tickets service's users export, over a fixed list of users."""

    def __init__(self, users: Sequence[UserSnapshot]) -> None:
        self.users = sorted(users, key=lambda user: user.id)
        self.calls: list[tuple[int, int]] = []

    async def users_after(self, after_id: int, limit: int) -> UsersPage:
        self.calls.append((after_id, limit))
        rest = [user for user in self.users if user.id > after_id]
        return UsersPage(results=rest[:limit], has_more=len(rest) > limit)


class InMemoryDeliveryRouter:
    """Presence as a dict (user id -> gateway instance ids); deliveries kept per instance."""

    def __init__(self, presence: dict[int, list[str]] | None = None) -> None:
        self.presence: dict[int, list[str]] = presence or {}
        self.streams: dict[str, list[Delivery]] = defaultdict(list)

    async def route(self, deliveries: Sequence[Delivery]) -> int:
        written = 0
        for item in deliveries:
            for instance in self.presence.get(item.user_id, []):
                self.streams[instance].append(item)
                written += 1
        return written


# --- contract events, as the tickets service publishes them ------------------------------

_SNAPSHOT_DEFAULTS: dict[str, object] = {
    "id": 1,
    "title": "Homepage not loading",
    "description": "The homepage returns 500 error",
    "priority": Priority.HIGH,
    "category": Category.BUG,
    "status": TicketStatus.NEW,
    "project_id": 1,
    "project_name": "Website Redesign",
    "created_by_id": 2,
    "created_by_name": "John Client",
    "created_at": datetime(2025, 12, 23, 10, 0, tzinfo=UTC),
}


def ticket_snapshot(**fields: object) -> TicketSnapshot:
    """A ticket snapshot; API.md's example ticket unless ``fields`` say otherwise."""
    return TicketSnapshot.model_validate({**_SNAPSHOT_DEFAULTS, **fields})


def ticket_event(
    event_type: EventType,
    ticket: TicketSnapshot,
    *,
    actor_id: int | None,
    occurred_at: datetime | None = None,
    newly_assigned_ids: Sequence[int] = (),
    comment: str = "",
    event_id: UUID | None = None,
) -> TicketEvent:
    payload: TicketPayload
    if event_type is EventType.TICKET_ASSIGNED:
        payload = TicketAssignedPayload(ticket=ticket, newly_assigned_ids=list(newly_assigned_ids))
    elif event_type is EventType.TICKET_REJECTED:
        payload = TicketRejectedPayload(ticket=ticket, comment=comment)
    else:
        payload = TicketPayload(ticket=ticket)
    model = EVENT_MODELS[event_type]
    event = model(
        event_id=event_id or uuid.uuid4(),
        occurred_at=occurred_at or datetime.now(UTC),
        actor_id=actor_id,
        payload=payload,
    )
    return cast(TicketEvent, event)


def user_event(
    user_id: int,
    role: Role,
    full_name: str,
    *,
    username: str | None = None,
    is_active: bool = True,
    updated: bool = False,
    occurred_at: datetime | None = None,
) -> UserCreated | UserUpdated:
    snapshot = UserSnapshot(
        id=user_id,
        username=username or f"user{user_id}",
        full_name=full_name,
        role=role,
        is_active=is_active,
    )
    model = UserUpdated if updated else UserCreated
    return model(
        event_id=uuid.uuid4(), occurred_at=occurred_at or datetime.now(UTC), payload=snapshot
    )

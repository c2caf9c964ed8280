"""What the use cases need from the outside world, as protocols.

Adapters implement them over PostgreSQL/SQLite, Redis and HTTP; ``incident_notifier.testing``
has in-memory fakes for unit tests and the dev mode.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from uuid import UUID

from incident_contracts import Delivery
from incident_contracts.events import UsersPage
from incident_notifier.domain.content import NotificationContent
from incident_notifier.domain.records import NotificationRecord
from incident_notifier.domain.users import DirectoryUser


@dataclass(frozen=True, slots=True)
class RecordRequest:
    """One event's share of a write: its id and type, who gets it, and what it says."""

    event_id: UUID
    event_type: str
    recipient_ids: Sequence[int]
    content: NotificationContent


class NotificationStore(Protocol):
    async def record_many(
        self, requests: Sequence[RecordRequest]
    ) -> list[list[NotificationRecord] | None]:
        """In ONE transaction, for each request in order: claim its event id, give each
        recipient the next seq, write one record per recipient. The answer lines up with
        ``requests``: None (and nothing written) for an event id already claimed (earlier,
        or by an earlier request of the same batch). All or nothing: on any error nothing
        is written. Raises ``StoreUnavailable`` when the database cannot be reached."""
        ...

    async def page(
        self, user_id: int, *, before_seq: int | None, unread_only: bool, limit: int
    ) -> list[NotificationRecord]:
        """The user's records with seq below ``before_seq``, newest (highest seq) first."""
        ...

    async def unread_count(self, user_id: int) -> int: ...

    async def mark_read(self, user_id: int, notification_id: UUID, at: datetime) -> bool:
        """False when the user has no notification with this id."""
        ...

    async def mark_all_read(self, user_id: int, at: datetime) -> int: ...

    async def after_seq(self, user_id: int, after_seq: int, limit: int) -> list[NotificationRecord]:
        """The user's records with seq above ``after_seq``, ascending."""
        ...

    async def ping(self) -> None:
        """Raises ``StoreUnavailable`` when the database does not answer."""
        ...


class ClaimsPruner(Protocol):
    async def prune_claims(self, processed_before: datetime, limit: int) -> int:
        """Delete up to ``limit`` idempotency claims made before ``processed_before``
        (oldest first; the records stay); returns how many were deleted. Raises
        ``StoreUnavailable`` when the database cannot be reached."""
        ...


class RetentionMetrics(Protocol):
    def claims_pruned(self, rows: int) -> None: ...


@dataclass(frozen=True, slots=True)
class Audience:
    """What the directory says about a change's possible recipients."""

    admin_ids: list[int]
    inactive_ids: set[int] = field(default_factory=set)


class UserDirectory(Protocol):
    async def apply(self, users: Sequence[DirectoryUser]) -> int:
        """Upsert each user unless the stored statement is newer; returns rows changed."""
        ...

    async def is_empty(self) -> bool: ...

    async def audience(self, candidate_ids: Collection[int]) -> Audience:
        """Every active admin, and which of ``candidate_ids`` are known to be inactive."""
        ...

    async def get(self, user_id: int) -> DirectoryUser | None: ...


class AudienceAndRecords(Protocol):
    """The directory read and the writes of a batch of ticket events as one unit of work
    (one connection, one round of the database for both)."""

    async def record_for(
        self,
        candidate_ids: Collection[int],
        requests_for: Callable[[Audience], Sequence[RecordRequest]],
    ) -> list[list[NotificationRecord] | None]:
        """Read the audience of ``candidate_ids`` (as ``UserDirectory.audience``), build the
        requests from it with ``requests_for``, and record them (as
        ``NotificationStore.record_many``, whose answer this is: the writes are all or
        nothing), on one connection. The read may precede the writes' transaction, as a
        separate ``audience`` call would. Raises ``StoreUnavailable`` when the database
        cannot be reached."""
        ...


class UsersSource(Protocol):
    """The tickets service's export of its users, in ascending id order."""

    async def users_after(self, after_id: int, limit: int) -> UsersPage: ...


class DeliveryRouter(Protocol):
    async def route(self, deliveries: Sequence[Delivery]) -> int:
        """Hand each delivery to the gateways holding its user's connections; returns the
        number of (delivery, gateway) entries written. Never raises: a routing outage costs
        latency (gateways replay gaps), never a record."""
        ...

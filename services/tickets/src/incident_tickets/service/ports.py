"""What the use cases need from the outside world, as protocols.

The SQL adapters implement them for PostgreSQL and SQLite; ``incident_tickets.testing`` ships
in-memory fakes for the unit tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from incident_contracts.enums import Role
from incident_contracts.events import TicketEvent, UserEvent
from incident_contracts.tokens import TokenClaims
from incident_tickets.domain.projects import Project
from incident_tickets.domain.tickets import Ticket
from incident_tickets.domain.users import Actor, User

OutboxEvent = TicketEvent | UserEvent


class UserRepository(Protocol):
    async def add(self, user: User) -> User:
        """Store a new user and give it its id; raises UsernameTaken on a duplicate name."""
        ...

    async def get(self, user_id: int) -> User | None: ...

    async def get_by_username(self, username: str) -> User | None: ...

    async def get_many(self, user_ids: Sequence[int]) -> dict[int, User]: ...

    async def save(self, user: User) -> None: ...

    async def newest(self, *, role: Role | None, limit: int, offset: int) -> list[User]:
        """Newest first."""
        ...

    async def list_after(self, after_id: int, limit: int) -> list[User]:
        """Every user with an id above ``after_id``, ascending."""
        ...


class ProjectRepository(Protocol):
    async def add(self, project: Project) -> Project: ...

    async def get(self, project_id: int) -> Project | None: ...

    async def get_many(self, project_ids: Sequence[int]) -> dict[int, Project]: ...

    async def newest(self, *, limit: int, offset: int) -> list[Project]:
        """Newest first."""
        ...


class TicketRepository(Protocol):
    async def add(self, ticket: Ticket) -> Ticket: ...

    async def get(self, ticket_id: int, *, for_update: bool = False) -> Ticket | None:
        """``for_update`` locks the row until commit so concurrent actions serialize."""
        ...

    async def save(self, ticket: Ticket) -> None: ...

    async def list_visible(self, actor: Actor, *, limit: int, offset: int) -> list[Ticket]:
        """The tickets ``actor`` may see (API.md's scoping), newest first."""
        ...


@dataclass(frozen=True, slots=True)
class Names:
    users: dict[int, str]
    """Full names by user id."""
    projects: dict[int, str]
    """Names by project id."""


class NameDirectory(Protocol):
    async def lookup(self, user_ids: Sequence[int], project_ids: Sequence[int]) -> Names:
        """The names shown beside ids, in one read (a ticket's view needs both kinds);
        ids that name nothing are left out."""
        ...


@dataclass(slots=True)
class RefreshTokenRecord:
    jti: str
    family: str
    user_id: int
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    revoked_at: datetime | None = None


class RefreshTokenRepository(Protocol):
    async def add(self, record: RefreshTokenRecord) -> None: ...

    async def get(self, jti: str, *, for_update: bool = False) -> RefreshTokenRecord | None: ...

    async def mark_used(self, jti: str, at: datetime) -> None: ...

    async def revoke_family(self, family: str, at: datetime) -> None: ...


class UnitOfWork(Protocol):
    """One transaction: the changes and the events describing them are committed together."""

    users: UserRepository
    projects: ProjectRepository
    tickets: TicketRepository
    refresh_tokens: RefreshTokenRepository
    names: NameDirectory

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Rolls back whatever was not committed."""
        ...

    def emit(self, event: OutboxEvent) -> None:
        """Queue an event; it is written to the outbox by ``commit``, in the same transaction."""
        ...

    async def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...

    def reading(self) -> UnitOfWork:
        """A unit of work for reads only: no transaction where the database allows it
        (fewer round trips on the hot path); it cannot commit."""
        ...


class PasswordHasher(Protocol):
    async def hash(self, password: str) -> str: ...

    async def verify(self, password_hash: str, password: str) -> bool:
        """False for a wrong password; never raises for one."""
        ...


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    claims: TokenClaims


class TokenIssuer(Protocol):
    def access_token(self, user: User) -> IssuedToken: ...

    def refresh_token(self, user: User, family: str) -> IssuedToken: ...


class TokenReader(Protocol):
    async def read(self, token: str, *, refresh: bool) -> TokenClaims:
        """Verified claims; raises InvalidToken / TokenExpired."""
        ...


class Clock(Protocol):
    def __call__(self) -> datetime: ...


# --- the outbox relay ---------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class OutboxMessage:
    id: int
    event_id: str
    event_type: str
    body: str
    created_at: datetime


class EventPublisher(Protocol):
    @property
    def connected(self) -> bool: ...

    async def connect(self) -> None: ...

    async def publish(self, message: OutboxMessage) -> None:
        """Returns once the broker confirmed the message; raises when it did not."""
        ...

    async def close(self) -> None: ...


class PublishFn(Protocol):
    async def __call__(self, message: OutboxMessage) -> None: ...


class OutboxStore(Protocol):
    async def publish_pending(self, publish: PublishFn, limit: int) -> int:
        """Hand up to ``limit`` unsent rows to ``publish`` in id order (the calls may overlap,
        their order of starting is the id order), and mark sent the rows whose ``publish``
        returned, up to the first failure. Returns how many were sent; re-raises that failure
        after recording them. Rows held by another relay are left to it (0 is returned
        while it holds the oldest)."""
        ...

    async def pending(self) -> int: ...


class SentOutboxPruner(Protocol):
    async def prune_sent(self, sent_before: datetime, limit: int) -> int:
        """Delete up to ``limit`` rows sent before ``sent_before`` (never an unsent row);
        returns how many were deleted."""
        ...


class RetentionMetrics(Protocol):
    def outbox_pruned(self, rows: int) -> None: ...


class RelayMetrics(Protocol):
    def confirmed(self, event_type: str, commit_to_confirm_seconds: float) -> None: ...

    def relay_connection(self, *, connected: bool) -> None: ...

    def relay_lease(self, *, held: bool) -> None: ...


class RelayLease(Protocol):
    """One relay at a time among the replicas: the others would wake at every commit too and
    claim in vain (the outbox store keeps each row once and in order either way)."""

    async def acquire(self) -> bool:
        """True while this process holds the lease, taking it when it is free."""
        ...

    async def release(self) -> None:
        """Let another replica take the lease (this one stops, or cannot publish)."""
        ...

"""In-memory fakes of the ports, for unit tests (and anyone who needs a tickets core without I/O).

``InMemoryUnitOfWork`` works on a copy of ``InMemoryStore`` and replaces the store's state
only on commit, so an action that fails leaves neither its changes nor its events behind,
exactly like the SQL unit of work.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Self

from incident_contracts.enums import Role
from incident_contracts.tokens import TokenClaims, TokenType
from incident_tickets.domain.errors import InvalidToken, TokenExpired, UsernameTaken
from incident_tickets.domain.projects import Project
from incident_tickets.domain.tickets import Ticket
from incident_tickets.domain.users import Actor, User
from incident_tickets.service.ports import (
    IssuedToken,
    NameDirectory,
    Names,
    OutboxEvent,
    OutboxMessage,
    ProjectRepository,
    PublishFn,
    RefreshTokenRecord,
    RefreshTokenRepository,
    TicketRepository,
    UserRepository,
)

__all__ = [
    "FakePasswordHasher",
    "FixedClock",
    "InMemoryEventPublisher",
    "InMemoryOutboxStore",
    "InMemoryStore",
    "InMemoryTokens",
    "InMemoryUnitOfWork",
    "RecordingMetrics",
]


class FixedClock:
    """A clock that moves only when told to."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2025, 12, 23, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class _State:
    users: dict[int, User] = field(default_factory=dict)
    projects: dict[int, Project] = field(default_factory=dict)
    tickets: dict[int, Ticket] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshTokenRecord] = field(default_factory=dict)
    next_id: dict[str, int] = field(default_factory=dict)

    def new_id(self, kind: str) -> int:
        self.next_id[kind] = self.next_id.get(kind, 0) + 1
        return self.next_id[kind]


class InMemoryStore:
    """What the database would hold: the state, and the outbox in commit order."""

    def __init__(self) -> None:
        self.state = _State()
        self.outbox: list[OutboxEvent] = []
        self.commits = 0

    def __call__(self) -> InMemoryUnitOfWork:
        """The store is its own unit-of-work factory."""
        return InMemoryUnitOfWork(self)

    def reading(self) -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(self, read_only=True)


class _Users:
    def __init__(self, state: _State) -> None:
        self._s = state

    async def add(self, user: User) -> User:
        if any(u.username == user.username for u in self._s.users.values()):
            raise UsernameTaken(user.username)
        user.id = self._s.new_id("user")
        self._s.users[user.id] = copy.deepcopy(user)
        return user

    async def get(self, user_id: int) -> User | None:
        return copy.deepcopy(self._s.users.get(user_id))

    async def get_by_username(self, username: str) -> User | None:
        found = [u for u in self._s.users.values() if u.username == username]
        return copy.deepcopy(found[0]) if found else None

    async def get_many(self, user_ids: Sequence[int]) -> dict[int, User]:
        return {i: copy.deepcopy(self._s.users[i]) for i in user_ids if i in self._s.users}

    async def save(self, user: User) -> None:
        assert user.id is not None
        self._s.users[user.id] = copy.deepcopy(user)

    async def newest(self, *, role: Role | None, limit: int, offset: int) -> list[User]:
        users = sorted(self._s.users.values(), key=lambda u: -(u.id or 0))
        users = [u for u in users if role is None or u.role is role]
        return copy.deepcopy(users[offset : offset + limit])

    async def list_after(self, after_id: int, limit: int) -> list[User]:
        users = sorted((u for u in self._s.users.values() if (u.id or 0) > after_id), key=_id)
        return copy.deepcopy(users[:limit])


def _id(item: User | Project | Ticket) -> int:
    return item.id or 0


class _Projects:
    def __init__(self, state: _State) -> None:
        self._s = state

    async def add(self, project: Project) -> Project:
        project.id = self._s.new_id("project")
        self._s.projects[project.id] = copy.deepcopy(project)
        return project

    async def get(self, project_id: int) -> Project | None:
        return copy.deepcopy(self._s.projects.get(project_id))

    async def get_many(self, project_ids: Sequence[int]) -> dict[int, Project]:
        return {i: copy.deepcopy(self._s.projects[i]) for i in project_ids if i in self._s.projects}

    async def newest(self, *, limit: int, offset: int) -> list[Project]:
        projects = sorted(self._s.projects.values(), key=lambda p: -(p.id or 0))
        return copy.deepcopy(projects[offset : offset + limit])


class _Tickets:
    def __init__(self, state: _State) -> None:
        self._s = state

    async def add(self, ticket: Ticket) -> Ticket:
        ticket.id = self._s.new_id("ticket")
        await self.save(ticket)
        return ticket

    async def get(self, ticket_id: int, *, for_update: bool = False) -> Ticket | None:
        return copy.deepcopy(self._s.tickets.get(ticket_id))

    async def save(self, ticket: Ticket) -> None:
        assert ticket.id is not None
        stored = copy.deepcopy(ticket)
        stored.events = []
        self._s.tickets[ticket.id] = stored

    async def list_visible(self, actor: Actor, *, limit: int, offset: int) -> list[Ticket]:
        tickets = sorted(self._s.tickets.values(), key=lambda t: -(t.id or 0))
        visible = [t for t in tickets if t.visible_to(actor)]
        return copy.deepcopy(visible[offset : offset + limit])


class _Names:
    def __init__(self, state: _State) -> None:
        self._s = state

    async def lookup(self, user_ids: Sequence[int], project_ids: Sequence[int]) -> Names:
        users, projects = self._s.users, self._s.projects
        return Names(
            users={i: users[i].full_name for i in user_ids if i in users},
            projects={i: projects[i].name for i in project_ids if i in projects},
        )


class _RefreshTokens:
    def __init__(self, state: _State) -> None:
        self._s = state

    async def add(self, record: RefreshTokenRecord) -> None:
        self._s.refresh_tokens[record.jti] = copy.deepcopy(record)

    async def get(self, jti: str, *, for_update: bool = False) -> RefreshTokenRecord | None:
        return copy.deepcopy(self._s.refresh_tokens.get(jti))

    async def mark_used(self, jti: str, at: datetime) -> None:
        self._s.refresh_tokens[jti].used_at = at

    async def revoke_family(self, family: str, at: datetime) -> None:
        for record in self._s.refresh_tokens.values():
            if record.family == family and record.revoked_at is None:
                record.revoked_at = at


class InMemoryUnitOfWork:
    users: UserRepository
    projects: ProjectRepository
    tickets: TicketRepository
    refresh_tokens: RefreshTokenRepository
    names: NameDirectory

    def __init__(self, store: InMemoryStore, *, read_only: bool = False) -> None:
        self._store = store
        self._read_only = read_only
        self._events: list[OutboxEvent] = []
        self._begin()

    def _begin(self) -> None:
        self._work = copy.deepcopy(self._store.state)
        self.users = _Users(self._work)
        self.projects = _Projects(self._work)
        self.tickets = _Tickets(self._work)
        self.refresh_tokens = _RefreshTokens(self._work)
        self.names = _Names(self._work)

    async def __aenter__(self) -> Self:
        self._begin()
        self._events = []
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._events = []  # uncommitted work is simply dropped

    def emit(self, event: OutboxEvent) -> None:
        self._events.append(event)

    async def commit(self) -> None:
        assert not self._read_only, "a reading unit of work cannot commit"
        self._store.state = self._work
        self._store.outbox.extend(self._events)
        self._store.commits += 1
        self._events = []
        self._begin()


class FakePasswordHasher:
    """Reversible on purpose: tests need speed, not secrecy."""

    async def hash(self, password: str) -> str:
        return f"plain${password}"

    async def verify(self, password_hash: str, password: str) -> bool:
        return password_hash == f"plain${password}"


class InMemoryTokens:
    """Issues opaque tokens and reads them back; ``expire`` makes a token read as expired."""

    def __init__(self, clock: FixedClock, access_ttl: int = 900, refresh_ttl: int = 604800) -> None:
        self._clock = clock
        self._ttl = {TokenType.ACCESS: access_ttl, TokenType.REFRESH: refresh_ttl}
        self._claims: dict[str, TokenClaims] = {}
        self._counter = itertools.count(1)

    def access_token(self, user: User) -> IssuedToken:
        return self._issue(user, TokenType.ACCESS, None)

    def refresh_token(self, user: User, family: str) -> IssuedToken:
        return self._issue(user, TokenType.REFRESH, family)

    def _issue(self, user: User, typ: TokenType, family: str | None) -> IssuedToken:
        number = next(self._counter)
        now = int(self._clock().timestamp())
        claims = TokenClaims(
            sub=str(user.id),
            typ=typ,
            role=user.role,
            username=user.username,
            iss="test",
            aud="test",
            iat=now,
            nbf=now,
            exp=now + self._ttl[typ],
            jti=f"jti-{number}",
            fam=family,
        )
        token = f"{typ.value}-token-{number}"
        self._claims[token] = claims
        return IssuedToken(token, claims)

    async def read(self, token: str, *, refresh: bool) -> TokenClaims:
        claims = self._claims.get(token)
        if claims is None:
            raise InvalidToken("The token is invalid.")
        if claims.exp <= int(self._clock().timestamp()):
            raise TokenExpired("The token has expired.")
        if (claims.typ is TokenType.REFRESH) is not refresh:
            raise InvalidToken(f"A {claims.typ.value} token cannot be used here.")
        return claims


class InMemoryEventPublisher:
    """Records what it "publishes"; set ``down`` to make connect and publish fail."""

    def __init__(self) -> None:
        self.published: list[OutboxMessage] = []
        self.down = False
        self.fail_after: int | None = None
        """Fail every publish once this many messages have been published in total."""
        self._connected = False
        self.connects = 0

    @property
    def connected(self) -> bool:
        return self._connected and not self.down

    async def connect(self) -> None:
        if self.down:
            raise ConnectionError("the broker is down")
        self._connected = True
        self.connects += 1

    async def publish(self, message: OutboxMessage) -> None:
        if self.down or not self._connected:
            raise ConnectionError("the broker is down")
        if self.fail_after is not None and len(self.published) >= self.fail_after:
            raise ConnectionError("the broker went away mid-batch")
        self.published.append(message)

    async def close(self) -> None:
        self._connected = False


class InMemoryOutboxStore:
    """The outbox table as a list; ``publish_pending`` follows the SQL store's contract."""

    def __init__(self) -> None:
        self.rows: list[OutboxMessage] = []
        self.sent: set[int] = set()
        self.sent_at: dict[int, datetime] = {}
        self._ids = itertools.count(1)

    def add(self, event_type: str, body: str = "{}", created_at: datetime | None = None) -> int:
        row_id = next(self._ids)
        self.rows.append(
            OutboxMessage(
                id=row_id,
                event_id=f"event-{row_id}",
                event_type=event_type,
                body=body,
                created_at=created_at or datetime.now(UTC),
            )
        )
        return row_id

    async def publish_pending(self, publish: PublishFn, limit: int) -> int:
        batch = [row for row in self.rows if row.id not in self.sent][:limit]
        sent = 0
        for row in batch:
            await publish(row)  # a failure propagates; the rows before it stay sent
            self.sent.add(row.id)
            self.sent_at[row.id] = datetime.now(UTC)
            sent += 1
        return sent

    async def prune_sent(self, sent_before: datetime, limit: int) -> int:
        old = sorted((at, row_id) for row_id, at in self.sent_at.items() if at < sent_before)[
            :limit
        ]
        doomed = {row_id for _, row_id in old}
        self.rows = [row for row in self.rows if row.id not in doomed]
        self.sent -= doomed
        for row_id in doomed:
            del self.sent_at[row_id]
        return len(doomed)

    async def pending(self) -> int:
        return len(self.rows) - len(self.sent)


class RecordingMetrics:
    def __init__(self) -> None:
        self.confirmations: list[tuple[str, float]] = []
        self.connection_states: list[bool] = []
        self.lease_states: list[bool] = []
        self.pruned: list[int] = []

    def confirmed(self, event_type: str, commit_to_confirm_seconds: float) -> None:
        self.confirmations.append((event_type, commit_to_confirm_seconds))

    def relay_connection(self, *, connected: bool) -> None:
        self.connection_states.append(connected)

    def relay_lease(self, *, held: bool) -> None:
        self.lease_states.append(held)

    def outbox_pruned(self, rows: int) -> None:
        self.pruned.append(rows)

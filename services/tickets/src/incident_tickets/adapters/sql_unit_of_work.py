"""The unit of work over one database connection; the outbox rows go in the same commit."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Self

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from incident_tickets.adapters.sql_database import is_unavailable
from incident_tickets.adapters.sql_repositories import (
    SqlProjectRepository,
    SqlRefreshTokenRepository,
    SqlUserRepository,
)
from incident_tickets.adapters.sql_tables import OUTBOX
from incident_tickets.adapters.sql_tickets import (
    UPDATE_TICKET,
    SqlNameDirectory,
    SqlTicketRepository,
)
from incident_tickets.domain.errors import Unavailable
from incident_tickets.service.ports import (
    NameDirectory,
    Names,
    OutboxEvent,
    ProjectRepository,
    RefreshTokenRepository,
    TicketRepository,
    UserRepository,
)

_WRITE_AND_NOTIFY = select(func.pg_notify(bindparam("channel"), bindparam("sender"))).add_cte(
    insert(OUTBOX)
    .values(
        {name: bindparam(f"p_{name}") for name in ("event_id", "event_type", "body", "created_at")}
    )
    .cte("written")
)
"""One outbox row and the NOTIFY for it (PostgreSQL), built once."""

_SAVE_WRITE_AND_NOTIFY = _WRITE_AND_NOTIFY.add_cte(UPDATE_TICKET.cte("saved"))
"""The same, with the ticket's UPDATE that the change wrote the event for: the whole write
of a lifecycle action in one round trip."""

log = logging.getLogger(__name__)


def _first_line(error: BaseException) -> str:
    return (str(error) or type(error).__name__).splitlines()[0]


AfterCommit = Callable[[list[str]], None]
"""Called right after a commit with the ids of the events it wrote (the relay's wake-up and
its exact commit time, the request->commit metric)."""


class SqlUnitOfWork:
    users: UserRepository
    projects: ProjectRepository
    tickets: TicketRepository
    refresh_tokens: RefreshTokenRepository
    names: NameDirectory

    def __init__(
        self,
        engine: AsyncEngine,
        after_commit: AfterCommit | None = None,
        notify_channel: str | None = None,
        notify_sender: str = "",
        *,
        users_channel: str | None = None,
        read_only: bool = False,
    ) -> None:
        self._read_only = read_only
        self._users_channel = users_channel
        self._engine = engine
        self._after_commit = after_commit
        self._notify_channel = notify_channel
        self._notify_sender = notify_sender
        self._events: list[OutboxEvent] = []
        self._connection: AsyncConnection | None = None

    async def __aenter__(self) -> Self:
        # The transaction begins with the first statement ("commit as you go").
        try:
            self._connection = connection = await self._engine.connect()
        except Exception as error:
            if is_unavailable(error):
                log.warning("database unavailable: no connection: %s", _first_line(error))
                raise Unavailable() from error
            raise
        names = Names(users={}, projects={})  # read in this transaction, by any repository
        self.users = SqlUserRepository(connection, names, self._users_channel)
        self.projects = SqlProjectRepository(connection, names)
        # Deferring the ticket's UPDATE pays only where it joins the outbox statement.
        self._tickets = SqlTicketRepository(
            connection, names, defer_saves=self._notify_channel is not None
        )
        self.tickets = self._tickets
        self.refresh_tokens = SqlRefreshTokenRepository(connection)
        self.names = SqlNameDirectory(connection, names)
        self._events = []
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        connection, self._connection = self._connection, None
        assert connection is not None
        try:
            try:
                await connection.rollback()  # nothing to undo after a commit
            finally:
                await connection.close()
        except Exception as error:
            # A connection lost after the work (committed or not) leaves nothing to undo:
            # the pool discards it. Only a failure of the work itself is reported.
            if not is_unavailable(error):
                raise
        if exc is not None and is_unavailable(exc):
            log.warning("database unavailable: the connection failed: %s", _first_line(exc))
            raise Unavailable() from exc

    def emit(self, event: OutboxEvent) -> None:
        self._events.append(event)

    async def commit(self) -> None:
        assert self._connection is not None, "commit inside `async with`"
        assert not self._read_only, "a reading unit of work cannot commit"
        events, self._events = self._events, []
        now = datetime.now(UTC)
        rows = [
            {
                "event_id": str(event.event_id),
                "event_type": event.event_type.value,
                "body": event.model_dump_json(),
                "created_at": now,
            }
            for event in events
        ]
        if len(rows) == 1 and self._notify_channel is not None:
            # One round trip: the row, and a NOTIFY that PostgreSQL delivers on commit only,
            # so relays in other processes wake up as soon as the row is visible (and the
            # ticket's UPDATE when one waits).
            parameters = {f"p_{name}": value for name, value in rows[0].items()}
            parameters |= {"channel": self._notify_channel, "sender": self._notify_sender}
            saved = self._tickets.take_pending_save()
            if saved is None:
                await self._connection.execute(_WRITE_AND_NOTIFY, parameters)
            else:
                await self._connection.execute(_SAVE_WRITE_AND_NOTIFY, parameters | saved)
            await self._connection.commit()
            self._committed(events)
            return
        await self._tickets.flush()
        if rows and self._notify_channel is not None:
            written = insert(OUTBOX).values(rows).cte("written")
            notify = func.pg_notify(self._notify_channel, self._notify_sender)
            await self._connection.execute(select(notify).add_cte(written))
        elif rows:
            await self._connection.execute(insert(OUTBOX).values(rows))
        await self._connection.commit()
        self._committed(events)

    def _committed(self, events: list[OutboxEvent]) -> None:
        if events and self._after_commit is not None:
            self._after_commit([str(event.event_id) for event in events])


class SqlUnitOfWorkFactory:
    def __init__(
        self,
        engine: AsyncEngine,
        after_commit: AfterCommit | None = None,
        notify_channel: str | None = None,
        notify_sender: str = "",
        users_channel: str | None = None,
    ) -> None:
        """``notify_channel``: PostgreSQL only, see ``adapters.pg_listener``;
        ``notify_sender`` lets this process's listener skip its own notifications;
        ``users_channel``: PostgreSQL only, where saving a user announces its id."""
        self._engine = engine
        # Same pool, autocommit: a read is one round trip, without BEGIN and ROLLBACK.
        self._read_engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.after_commit = after_commit
        self._notify_channel = notify_channel
        self._notify_sender = notify_sender
        self._users_channel = users_channel

    def __call__(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(
            self._engine,
            self.after_commit,
            self._notify_channel,
            self._notify_sender,
            users_channel=self._users_channel,
        )

    def reading(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self._read_engine, read_only=True)

"""The async engine, dialect-neutral upserts, and what counts as "the database is down"."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Table, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from incident_notifier.domain.errors import StoreUnavailable

T = TypeVar("T")


def make_engine(url: str, *, pool_size: int = 10, pre_ping: bool = True) -> AsyncEngine:
    """``pre_ping=False`` spares a round trip per checkout: a connection the server dropped
    then fails its first statement instead (``StoreUnavailable``), and the pool, told by
    that disconnect error, discards its other connections, so the caller's retry runs on
    a fresh one. For callers that retry anyway, such as the queue consumer."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        url,
        pool_size=pool_size,
        # No overflow: a connection opened for a burst and closed after it costs more CPU
        # than waiting for a pooled one (see the tickets service's engine).
        max_overflow=0,
        pool_pre_ping=pre_ping,
        pool_timeout=10,
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the API read while the consumer writes; busy_timeout makes writers queue
    # for the lock instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def insert_for(engine: AsyncEngine, table: Table) -> Any:
    """An INSERT with ``on_conflict_do_nothing`` / ``on_conflict_do_update`` for the dialect."""
    if engine.dialect.name == "postgresql":
        return postgresql.insert(table)
    if engine.dialect.name == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database dialect {engine.dialect.name!r}")


def aware(moment: datetime | None) -> datetime | None:
    """SQLite hands timestamps back without a zone; they were written in UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


_UNAVAILABLE = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,  # the pool's wait for a connection ran out
    OSError,
    TimeoutError,
)


def is_unavailable(error: BaseException) -> bool:
    """The database could not be reached or used, as opposed to a statement it refused.
    A database error that carries no statement came from getting a connection (a database
    that does not accept connections, too many clients, a refused login). The tickets
    service's ``sql_database`` applies the same rule (services share no code but the
    libraries')."""
    if isinstance(error, _UNAVAILABLE):
        return True
    if isinstance(error, sa_exc.DBAPIError):
        return error.connection_invalidated or error.statement is None
    return False


async def guarded(operation: Callable[[], Awaitable[T]]) -> T:
    """Run a database operation; a lost connection becomes ``StoreUnavailable``."""
    try:
        return await operation()
    except Exception as error:
        if is_unavailable(error):
            raise StoreUnavailable(f"The database is unavailable: {error}") from error
        raise

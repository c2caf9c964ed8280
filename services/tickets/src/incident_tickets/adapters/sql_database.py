"""Database URLs, the async engine, and the Alembic migrations run at start."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    create_async_engine,
)

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parents[3] / "migrations"
"""``services/tickets/migrations`` (the package is installed from ``src/``)."""

_MIGRATION_LOCK = 7_342_001  # any constant: one pg_advisory_xact_lock id for this service


def async_database_url(url: str | None, data_dir: Path) -> str:
    """postgresql://... -> postgresql+asyncpg://...; unset -> a SQLite file under data_dir."""
    if not url:
        data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{data_dir / 'tickets.db'}"
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url.removeprefix(prefix)
    if url.startswith("sqlite://"):
        return "sqlite+aiosqlite://" + url.removeprefix("sqlite://")
    return url


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    if url.startswith("sqlite"):
        # One writer at a time: wait for the lock instead of failing at once.
        return create_async_engine(url, connect_args={"timeout": 30})
    # No pre-ping: it costs a round trip per checkout on the hot path. After a database
    # restart the first statement on a dead connection fails, and SQLAlchemy then discards
    # the whole pool, so one request fails instead of every request paying.
    # No overflow: a connection opened for a burst is closed when the burst is over, and
    # opening one costs more CPU than waiting for a pooled one (1.4 to 2.3 ms of this
    # process's CPU and a PostgreSQL backend start each: bench/db_connection_cost.py);
    # under saturation that churn fed itself, tens of connections opened and closed a second.
    return create_async_engine(url, pool_size=pool_size, max_overflow=0)


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
    that does not accept connections, too many clients, a refused login). The notifier's
    ``sql_engine`` applies the same rule (services share no code but the libraries')."""
    if isinstance(error, _UNAVAILABLE):
        return True
    if isinstance(error, sa_exc.DBAPIError):
        return error.connection_invalidated or error.statement is None
    return False


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


async def migrate(engine: AsyncEngine) -> None:
    """Upgrade to the latest revision; replicas starting together take turns (PostgreSQL)."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})"))
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")

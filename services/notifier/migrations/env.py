"""Alembic environment: async engine; on PostgreSQL an advisory lock around the upgrade so
that the api and consumer processes starting together on a fresh database do not race."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from incident_notifier.adapters.sql_schema import metadata
from incident_notifier.config import Settings

# Any constant will do, as long as only the notifier uses it on its own database.
_MIGRATION_LOCK_KEY = 0x6E6F7469
# Its own version table, so that one database may hold both services' schemas (the dev mode).
VERSION_TABLE = "notifier_alembic_version"


def _url() -> str:
    url = context.config.get_main_option("sqlalchemy.url")
    return url or Settings().database_url


def _upgrade(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,
        version_table=VERSION_TABLE,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    engine = create_async_engine(_url())
    try:
        async with engine.connect() as connection:
            locked = connection.dialect.name == "postgresql"
            if locked:
                await connection.execute(
                    text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                )
                await connection.commit()
            try:
                await connection.run_sync(_upgrade)
                await connection.commit()
            finally:
                if locked:
                    await connection.execute(
                        text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                    )
                    await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=_url(), target_metadata=metadata, literal_binds=True, version_table=VERSION_TABLE
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online())

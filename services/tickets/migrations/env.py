"""Alembic environment: runs on the connection the service hands over, or on its own engine."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from incident_tickets.adapters.sql_tables import SQLModel

target_metadata = SQLModel.metadata
# Its own version table, so that one database may hold both services' schemas (the dev mode).
VERSION_TABLE = "tickets_alembic_version"


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        version_table=VERSION_TABLE,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_standalone() -> None:
    # Only for the `alembic` command line: the URL comes from the service's own settings.
    from incident_tickets.adapters.sql_database import async_database_url, create_engine
    from incident_tickets.config import Settings

    settings = Settings()
    engine = create_engine(async_database_url(settings.database_url, settings.data_dir))
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


given = context.config.attributes.get("connection")
if given is not None:
    _run(given)
else:
    asyncio.run(_run_standalone())

"""A migrated database for the SQL adapters' tests: SQLite (the dev mode's database) and,
when ``DATABASE_URL`` names a PostgreSQL server, a fresh database of it, dropped after."""

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from harness.scratch_databases import ScratchDatabases
from sqlalchemy.ext.asyncio import AsyncEngine

from incident_notifier.adapters.alembic_migrations import upgrade_to_head
from incident_notifier.adapters.sql_engine import make_engine


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(
    request: pytest.FixtureRequest, tmp_path: Path, scratch_postgres: ScratchDatabases
) -> AsyncIterator[AsyncEngine]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'notifier.db'}"
    else:
        created = await scratch_postgres.create("notifier_test")
        url = urlunsplit(urlsplit(created)._replace(scheme="postgresql+asyncpg"))
    upgrade_to_head(url)
    engine = make_engine(url, pre_ping=False)
    try:
        yield engine
    finally:
        await engine.dispose()

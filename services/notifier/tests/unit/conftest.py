"""A migrated database for the SQL adapters' tests: SQLite (the dev mode's database) and,
when ``DATABASE_URL`` names a PostgreSQL server, a fresh database of it, dropped after."""

import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from incident_notifier.adapters.alembic_migrations import upgrade_to_head
from incident_notifier.adapters.sql_engine import make_engine


async def _admin(server: str, statement: str) -> None:
    connection = await asyncpg.connect(server)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    server, name = "", ""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'notifier.db'}"
    else:
        server = os.environ.get("DATABASE_URL", "")
        if not server.startswith("postgres"):
            pytest.skip("DATABASE_URL names no PostgreSQL server")
        server = urlunsplit(urlsplit(server)._replace(scheme="postgresql"))
        name = f"notifier_test_{secrets.token_hex(4)}"
        await _admin(server, f'CREATE DATABASE "{name}"')
        url = urlunsplit(urlsplit(server)._replace(scheme="postgresql+asyncpg", path=f"/{name}"))
    upgrade_to_head(url)
    engine = make_engine(url, pre_ping=False)
    try:
        yield engine
    finally:
        await engine.dispose()
        if name:
            await _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

"""Empty PostgreSQL databases for one test, on the server of ``DATABASE_URL``.

The SQL adapters' tests of every service use it through the ``scratch_postgres`` fixture of
the repository's root ``conftest.py``: they run on SQLite always and, when ``DATABASE_URL``
names a PostgreSQL server, on a fresh database of it as well.
"""

from __future__ import annotations

import os
import secrets
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest


class ScratchDatabases:
    def __init__(self, server: str | None = None) -> None:
        """``server``: a PostgreSQL URL (default: ``DATABASE_URL``)."""
        self._server = os.environ.get("DATABASE_URL", "") if server is None else server
        self._names: list[str] = []

    async def create(self, prefix: str) -> str:
        """A new empty database and its ``postgresql://`` URL; skips the test when there
        is no PostgreSQL server to make it on."""
        if not self._server.startswith("postgres"):
            pytest.skip("DATABASE_URL names no PostgreSQL server")
        name = f"{prefix}_{secrets.token_hex(4)}"
        await self._admin(f'CREATE DATABASE "{name}"')
        self._names.append(name)
        return urlunsplit(urlsplit(self._admin_url)._replace(path=f"/{name}"))

    async def drop_all(self) -> None:
        for name in self._names:
            await self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._names.clear()

    @property
    def _admin_url(self) -> str:
        return urlunsplit(urlsplit(self._server)._replace(scheme="postgresql"))

    async def _admin(self, statement: str) -> None:
        connection = await asyncpg.connect(self._admin_url)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

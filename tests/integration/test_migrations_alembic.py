"""Both services' Alembic migrations, run with the `alembic` command as an operator would.

There is no previous release of either service yet (each holds revisions 0001 and 0002, the
second adding the retention indexes), so "upgrade from the previous release's schema" is, for
now, upgrade from base: an
empty database goes to head, `alembic check` then finds no difference between the models and
the migrated schema, and a downgrade to base followed by a second upgrade works again. When
a release ships, add its schema here as the starting point of an upgrade.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from harness.infra import Infra

ROOT = Path(__file__).resolve().parents[2]
ALEMBIC = Path(sys.executable).with_name("alembic")

# service directory, its database variable, its own version table, a table it must create
SERVICES = {
    "tickets": ("TICKETS_DATABASE_URL", "tickets_alembic_version", "outbox"),
    "notifier": ("NOTIFIER_DATABASE_URL", "notifier_alembic_version", "processed_events"),
}


def alembic(service: str, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    variable = SERVICES[service][0]
    env = {**os.environ, variable: database_url, "DATABASE_URL": database_url}
    return subprocess.run(
        [str(ALEMBIC), "-c", str(ROOT / "services" / service / "alembic.ini"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args}: {result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


async def _tables(database_url: str) -> dict[str, list[str]]:
    parts = urlsplit(database_url)
    connection = await asyncpg.connect(urlunsplit(parts._replace(scheme="postgresql")))
    try:
        rows = await connection.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
        names = sorted(row["table_name"] for row in rows)
        versions: dict[str, list[str]] = {"tables": names}
        for name in names:
            if name.endswith("alembic_version"):
                found = await connection.fetch(f'SELECT version_num FROM "{name}"')
                versions[name] = [row["version_num"] for row in found]
        return versions
    finally:
        await connection.close()


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_upgrade_from_base_then_check_then_round_trip(infra: Infra, service: str) -> None:
    _, version_table, sample_table = SERVICES[service]
    database_url = infra.create_database(f"migrate_{service}")

    heads = ok(alembic(service, database_url, "heads")).split()
    assert len([word for word in heads if word.endswith("(head)")]) == 1, heads
    head = heads[0]

    ok(alembic(service, database_url, "upgrade", "head"))
    state = asyncio.run(_tables(database_url))
    assert state.get(version_table) == [head]
    assert sample_table in state["tables"]
    # The other service's version table is not there: each keeps its own.
    assert [t for t in state["tables"] if t.endswith("alembic_version")] == [version_table]

    # The models and the migrated schema agree.
    assert "No new upgrade operations detected" in ok(alembic(service, database_url, "check"))

    # Down to base leaves only the (empty) version table; up again reaches the same head.
    ok(alembic(service, database_url, "downgrade", "base"))
    state = asyncio.run(_tables(database_url))
    assert state["tables"] == [version_table]
    assert state[version_table] == []
    ok(alembic(service, database_url, "upgrade", "head"))
    assert asyncio.run(_tables(database_url)).get(version_table) == [head]
    ok(alembic(service, database_url, "check"))


def test_check_fails_when_the_schema_drifts(infra: Infra) -> None:
    """The check can fail: a column the models do not know is reported."""
    database_url = infra.create_database("migrate_drift")
    ok(alembic("notifier", database_url, "upgrade", "head"))

    async def drift() -> None:
        parts = urlsplit(database_url)
        connection = await asyncpg.connect(urlunsplit(parts._replace(scheme="postgresql")))
        try:
            await connection.execute("ALTER TABLE user_seq ADD COLUMN stray integer")
        finally:
            await connection.close()

    asyncio.run(drift())
    result = alembic("notifier", database_url, "check")
    assert result.returncode != 0
    assert "stray" in result.stdout + result.stderr

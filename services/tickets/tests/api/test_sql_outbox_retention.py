"""The outbox retention's statement on SQLite (the dev mode's database) and, when
``DATABASE_URL`` names a PostgreSQL server, on a fresh database of it: sent rows older than
the cutoff go, in bounded batches, oldest first; newer sent rows and unsent rows stay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from harness.scratch_databases import ScratchDatabases
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from incident_tickets.adapters.sql_database import async_database_url, create_engine, migrate
from incident_tickets.adapters.sql_outbox import SqlOutboxStore
from incident_tickets.adapters.sql_tables import OUTBOX

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(
    request: pytest.FixtureRequest, tmp_path: Path, scratch_postgres: ScratchDatabases
) -> AsyncIterator[AsyncEngine]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}"
    else:
        url = async_database_url(await scratch_postgres.create("tickets_outbox"), tmp_path)
    engine = create_engine(url)
    await migrate(engine)
    try:
        yield engine
    finally:
        await engine.dispose()


async def _rows(engine: AsyncEngine, sent_ages_hours: list[float | None]) -> None:
    """One row per entry: sent that many hours before NOW, or unsent (None)."""
    async with engine.begin() as connection:
        await connection.execute(
            insert(OUTBOX),
            [
                {
                    "event_id": f"event-{number}",
                    "event_type": "ticket.created",
                    "body": "{}",
                    "created_at": NOW - timedelta(hours=1000),
                    "sent_at": None if age is None else NOW - timedelta(hours=age),
                }
                for number, age in enumerate(sent_ages_hours, start=1)
            ],
        )


async def _left(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        rows = await connection.execute(select(OUTBOX.c.event_id).order_by(OUTBOX.c.id))
        return [row.event_id for row in rows]


async def test_only_rows_sent_before_the_cutoff_are_deleted(engine: AsyncEngine) -> None:
    # event-1 unsent (and older than any), 2 and 4 sent long ago, 3 sent recently,
    # 5 sent just after the cutoff.
    await _rows(engine, [None, 200, 1, 169, 167.9])
    store = SqlOutboxStore(engine)
    cutoff = NOW - timedelta(hours=168)
    assert await store.prune_sent(cutoff, limit=1000) == 2
    assert await _left(engine) == ["event-1", "event-3", "event-5"]
    assert await store.prune_sent(cutoff, limit=1000) == 0
    assert await store.pending() == 1


async def test_batches_are_bounded_and_take_the_oldest_first(engine: AsyncEngine) -> None:
    await _rows(engine, [300, 500, 400, None, 1])
    store = SqlOutboxStore(engine)
    cutoff = NOW - timedelta(hours=168)
    assert await store.prune_sent(cutoff, limit=2) == 2
    assert await _left(engine) == ["event-1", "event-4", "event-5"]  # 500 h and 400 h went
    assert await store.prune_sent(cutoff, limit=2) == 1
    assert await _left(engine) == ["event-4", "event-5"]

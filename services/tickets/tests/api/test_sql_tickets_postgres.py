"""The ticket read of an action on PostgreSQL (skipped without a server): one statement brings
the row and its view's names, and a read that waited for the lock behind a change still sees
what it added."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from harness.scratch_databases import ScratchDatabases
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from incident_tickets.adapters import sql_tickets
from incident_tickets.adapters.sql_database import async_database_url, create_engine, migrate
from incident_tickets.adapters.sql_unit_of_work import SqlUnitOfWorkFactory


@pytest.fixture
async def database(scratch_postgres: ScratchDatabases) -> str:
    return await scratch_postgres.create("tickets_read")


@pytest.fixture
async def engine(database: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(async_database_url(database, Path(".")))
    await migrate(engine)
    now = datetime.now(UTC)
    async with engine.begin() as connection:
        for user_id, name in ((1, "Carol Client"), (2, "Dev Two"), (3, "Dev Three")):
            await connection.execute(
                text(
                    "INSERT INTO users (id, username, full_name, role, password_hash, "
                    "is_active, created_at) VALUES (:id, :u, :n, 'CLIENT', 'x', true, :t)"
                ),
                {"id": user_id, "u": f"user{user_id}", "n": name, "t": now},
            )
        await connection.execute(
            text("INSERT INTO projects (id, name, created_at) VALUES (1, 'Payments', :t)"),
            {"t": now},
        )
        await connection.execute(
            text(
                "INSERT INTO tickets (id, title, description, priority, category, status, "
                "project_id, created_by_id, created_at, updated_at) "
                "VALUES (1, 't', 'd', 'HIGH', 'BUG', 'OPENED', 1, 1, :t, :t)"
            ),
            {"t": now},
        )
        await connection.execute(
            text("INSERT INTO ticket_assignees (ticket_id, user_id, position) VALUES (1, 2, 0)")
        )
    yield engine
    await engine.dispose()


@pytest.fixture
def second_reads(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """The assignee reads made by a statement of their own."""
    reads: list[list[int]] = []
    original = sql_tickets.SqlTicketRepository._assignees

    async def counted(
        self: sql_tickets.SqlTicketRepository, ids: list[int]
    ) -> dict[int, list[int]]:
        reads.append(ids)
        return await original(self, ids)

    monkeypatch.setattr(sql_tickets.SqlTicketRepository, "_assignees", counted)
    return reads


async def test_a_locked_read_brings_the_names_in_one_statement(
    engine: AsyncEngine, second_reads: list[list[int]]
) -> None:
    async with SqlUnitOfWorkFactory(engine, notify_channel="c")() as uow:
        ticket = await uow.tickets.get(1, for_update=True)
        assert ticket is not None
        assert ticket.assignee_ids == [2]
        names = await uow.names.lookup([1, 2], [1])
    assert names.users == {1: "Carol Client", 2: "Dev Two"}
    assert names.projects == {1: "Payments"}
    assert second_reads == []


async def test_a_read_that_waited_for_the_lock_sees_the_assignees_added_meanwhile(
    engine: AsyncEngine, database: str, second_reads: list[list[int]]
) -> None:
    other = await asyncpg.connect(database)
    try:
        transaction = other.transaction()
        await transaction.start()
        await other.execute("SELECT id FROM tickets WHERE id = 1 FOR UPDATE")
        await other.execute(
            "INSERT INTO ticket_assignees (ticket_id, user_id, position) VALUES (1, 3, 1)"
        )
        await other.execute("UPDATE tickets SET status = 'IN_PROGRESS' WHERE id = 1")

        async def read() -> tuple[list[int], str]:
            async with SqlUnitOfWorkFactory(engine, notify_channel="c")() as uow:
                ticket = await uow.tickets.get(1, for_update=True)
                assert ticket is not None
                names = await uow.names.lookup(ticket.assignee_ids, [])
                return ticket.assignee_ids, " & ".join(names.users.values())

        waiting = asyncio.create_task(read())
        await asyncio.sleep(0.3)
        assert not waiting.done()  # held by the lock
        await transaction.commit()
        assert await waiting == ([2, 3], "Dev Two & Dev Three")
        assert second_reads == [[1]]
    finally:
        await other.close()

"""The SQL outbox store over SQLite: the unit of work writes rows in its commit, the relay's
claim publishes them in id order and marks only the confirmed prefix as sent."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from incident_contracts.enums import Role
from incident_contracts.events import UserCreated, UserSnapshot
from incident_tickets.adapters.sql_database import create_engine, migrate
from incident_tickets.adapters.sql_outbox import SqlOutboxStore
from incident_tickets.adapters.sql_unit_of_work import SqlUnitOfWorkFactory
from incident_tickets.service.ports import OutboxMessage


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}")
    await migrate(engine)
    yield engine
    await engine.dispose()


def event(number: int) -> UserCreated:
    return UserCreated(
        event_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
        payload=UserSnapshot(id=number, username=f"u{number}", full_name="U", role=Role.CLIENT),
    )


async def test_rows_are_committed_with_the_work_and_only_then(engine: AsyncEngine) -> None:
    committed: list[list[str]] = []
    uow = SqlUnitOfWorkFactory(engine, committed.append)
    async with uow() as work:
        work.emit(event(1))
        work.emit(event(2))
        await work.commit()
    async with uow() as work:
        work.emit(event(3))  # never committed: rolled back on exit
    store = SqlOutboxStore(engine)
    assert await store.pending() == 2
    assert [len(ids) for ids in committed] == [2]


async def test_a_failure_marks_only_the_confirmed_prefix(engine: AsyncEngine) -> None:
    uow = SqlUnitOfWorkFactory(engine)
    async with uow() as work:
        for number in range(1, 5):
            work.emit(event(number))
        await work.commit()
    store = SqlOutboxStore(engine)
    seen: list[int] = []

    async def second_fails(message: OutboxMessage) -> None:
        seen.append(message.id)
        if message.id == 2:
            raise ConnectionError("nack")

    with pytest.raises(ConnectionError):
        await store.publish_pending(second_fails, limit=10)
    assert seen == [1, 2, 3, 4]  # started in id order
    assert await store.pending() == 3  # 3 and 4 were confirmed but follow 2: they go again

    again: list[int] = []

    async def ok(message: OutboxMessage) -> None:
        again.append(message.id)

    assert await store.publish_pending(ok, limit=2) == 2
    assert await store.publish_pending(ok, limit=2) == 1
    assert again == [2, 3, 4]
    assert await store.pending() == 0

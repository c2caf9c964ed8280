"""The SQL adapters on SQLite (the dev mode's database) and, when ``DATABASE_URL`` names a
PostgreSQL server, on a fresh database of it (where batches take their own path), migrated
by Alembic: the same guarantees on both; the integration tests cover PostgreSQL further."""

import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from harness.scratch_databases import ScratchDatabases
from sqlalchemy.ext.asyncio import AsyncEngine

from incident_notifier.adapters.alembic_migrations import upgrade_to_head
from incident_notifier.adapters.sql_directory import SqlUserDirectory
from incident_notifier.adapters.sql_engine import make_engine
from incident_notifier.adapters.sql_notifications import SqlNotificationStore
from incident_notifier.domain.content import NotificationContent
from incident_notifier.domain.errors import StoreUnavailable
from incident_notifier.domain.tickets import ChangeKind
from incident_notifier.domain.users import DirectoryUser
from incident_notifier.service.ports import Audience, RecordRequest

NOW = datetime(2025, 12, 23, 10, 0, tzinfo=UTC)
CONTENT = NotificationContent(ChangeKind.TICKET_OPENED, "m", {"id": 1, "title": "T"}, NOW)


@pytest.fixture
def stores(engine: AsyncEngine) -> tuple[SqlNotificationStore, SqlUserDirectory]:
    return SqlNotificationStore(engine), SqlUserDirectory(engine)


def request(event_id: uuid.UUID, *users: int) -> RecordRequest:
    return RecordRequest(event_id, "ticket.opened", list(users), CONTENT)


async def test_a_batch_claims_each_event_once_and_numbers_each_user_in_order(
    stores: tuple[SqlNotificationStore, SqlUserDirectory],
) -> None:
    store, _ = stores
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    written = await store.record_many([request(a, 1, 2), request(b, 2), request(a, 1)])
    assert [None if w is None else [(r.user_id, r.seq) for r in w] for w in written] == [
        [(1, 1), (2, 1)],
        [(2, 2)],
        None,
    ]
    again = await store.record_many([request(b, 2), request(c, 2, 2), request(uuid.uuid4())])
    assert again[0] is None
    assert [(r.user_id, r.seq) for r in again[1] or []] == [(2, 3)]
    assert again[2] == []
    page = await store.page(2, before_seq=None, unread_only=False, limit=10)
    assert [r.seq for r in page] == [3, 2, 1]
    assert page[0].content == CONTENT
    assert [r.seq for r in await store.after_seq(2, 1, 10)] == [2, 3]


async def test_read_state(stores: tuple[SqlNotificationStore, SqlUserDirectory]) -> None:
    store, _ = stores
    [records] = await store.record_many([request(uuid.uuid4(), 1, 2)])
    assert records is not None
    mine, theirs = records
    assert await store.mark_read(1, theirs.id, NOW) is False
    assert await store.mark_read(1, mine.id, NOW) is True
    assert await store.mark_read(1, mine.id, NOW + timedelta(hours=1)) is True
    [read] = await store.page(1, before_seq=None, unread_only=False, limit=10)
    assert (read.is_read, read.read_at) == (True, NOW)
    assert await store.unread_count(1) == 0
    assert await store.unread_count(2) == 1
    assert await store.mark_all_read(2, NOW) == 1
    assert await store.page(2, before_seq=None, unread_only=True, limit=10) == []


async def test_the_directory_keeps_the_newest_statement(
    stores: tuple[SqlNotificationStore, SqlUserDirectory],
) -> None:
    _, directory = stores
    assert await directory.is_empty()
    admin = DirectoryUser(1, "ann", "Ann", "ADMIN", True, NOW)
    dev = DirectoryUser(2, "dev", "Dev", "DEVELOPER", False, NOW)
    assert await directory.apply([admin, dev]) == 2
    stale = DirectoryUser(1, "ann", "Ann", "ADMIN", False, NOW - timedelta(minutes=1))
    assert await directory.apply([stale]) == 0
    audience = await directory.audience({2, 3})
    assert (audience.admin_ids, audience.inactive_ids) == ([1], {2})
    assert await directory.get(1) == admin
    assert await directory.get(3) is None


async def test_one_unit_of_work_reads_the_audience_and_writes_or_writes_nothing(
    stores: tuple[SqlNotificationStore, SqlUserDirectory],
) -> None:
    store, directory = stores
    await directory.apply(
        [
            DirectoryUser(1, "ann", "Ann", "ADMIN", True, NOW),
            DirectoryUser(2, "dev", "Dev", "DEVELOPER", False, NOW),
        ]
    )
    seen: list[tuple[list[int], set[int]]] = []

    def requests_for(audience: Audience) -> list[RecordRequest]:
        seen.append((audience.admin_ids, audience.inactive_ids))
        named = [*audience.admin_ids, 2, 3]
        return [request(uuid.uuid4(), *(u for u in named if u not in audience.inactive_ids))]

    [records] = await store.record_for({2, 3}, requests_for)
    assert seen == [([1], {2})]
    assert [(r.user_id, r.seq) for r in records or []] == [(1, 1), (3, 1)]

    # The directory changes between two batches: the next batch follows it.
    later = NOW + timedelta(minutes=1)
    await directory.apply(
        [
            DirectoryUser(1, "ann", "Ann", "ADMIN", False, later),
            DirectoryUser(2, "dev", "Dev", "DEVELOPER", True, later),
            DirectoryUser(5, "abe", "Abe", "ADMIN", True, later),
        ]
    )
    [records] = await store.record_for({2, 3}, requests_for)
    assert seen[-1] == ([5], set())
    assert len(seen) == 2
    assert [(r.user_id, r.seq) for r in records or []] == [(2, 1), (3, 2), (5, 1)]

    event = uuid.uuid4()
    assert await store.record_for(set(), lambda _audience: [request(event, 3)]) != [None]
    assert await store.record_for(set(), lambda _audience: [request(event, 3)]) == [None]

    def failing(audience: Audience) -> list[RecordRequest]:
        raise RuntimeError("no requests")

    with pytest.raises(RuntimeError):
        await store.record_for(set(), failing)
    assert [r.seq for r in await store.after_seq(3, 0, 10)] == [1, 2, 3]


async def test_a_database_that_refuses_connections_is_unavailable_not_an_error(
    scratch_postgres: ScratchDatabases,
) -> None:
    """PostgreSQL only (skipped without a server): the API answers 503 for it, not 500."""
    created = await scratch_postgres.create("notifier_refusing")
    url = urlunsplit(urlsplit(created)._replace(scheme="postgresql+asyncpg"))
    upgrade_to_head(url)
    name = urlsplit(created).path.lstrip("/")
    admin = await asyncpg.connect(urlunsplit(urlsplit(created)._replace(path="/postgres")))
    engine = make_engine(url, pre_ping=False)
    try:
        store = SqlNotificationStore(engine)
        assert await store.unread_count(1) == 0
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await admin.execute(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        )
        for _ in range(2):  # the pooled connection that died, then the refused new one
            with pytest.raises(StoreUnavailable):
                await store.unread_count(1)
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        assert await store.unread_count(1) == 0
    finally:
        await engine.dispose()
        await admin.close()

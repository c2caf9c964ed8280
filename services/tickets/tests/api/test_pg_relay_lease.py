"""The relay lease on a real PostgreSQL server (skipped without one): one holder per name,
freed when its session ends, taken again by whoever asks next."""

from __future__ import annotations

import asyncio

import asyncpg
from harness.scratch_databases import ScratchDatabases

from incident_tickets.adapters.pg_relay_lease import PgRelayLease, lease_key


async def lock_holders(dsn: str, name: str) -> list[int]:
    """The backend pids holding the advisory lock of ``name``."""
    key = lease_key(name)
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = $1",
            key,
        )
        return [row["pid"] for row in rows]
    finally:
        await connection.close()


async def test_one_holder_at_a_time_and_the_lease_moves_when_its_session_ends(
    scratch_postgres: ScratchDatabases,
) -> None:
    dsn = await scratch_postgres.create("tickets_lease")
    first, second = PgRelayLease(dsn, "ns.outbox-relay"), PgRelayLease(dsn, "ns.outbox-relay")
    other_namespace = PgRelayLease(dsn, "other.outbox-relay")
    try:
        assert await first.acquire()
        assert not await second.acquire()
        assert await first.acquire()  # still held: no new attempt needed
        assert await other_namespace.acquire()  # a lease per name

        (holder,) = await lock_holders(dsn, "ns.outbox-relay")
        admin = await asyncpg.connect(dsn)
        try:
            await admin.execute("SELECT pg_terminate_backend($1)", holder)
        finally:
            await admin.close()
        assert await second.acquire()  # the session ended, and the lock with it
        for _ in range(100):  # the holder learns of its lost connection when it is told
            if not await first.acquire():
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the first holder still believes it holds the lease")

        await second.release()
        assert await first.acquire()
        assert not await second.acquire()
    finally:
        for lease in (first, second, other_namespace):
            await lease.release()
    assert await lock_holders(dsn, "ns.outbox-relay") == []

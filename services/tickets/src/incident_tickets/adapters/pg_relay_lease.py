"""The relay's lease: a PostgreSQL advisory lock, held by a connection of its own.

PostgreSQL releases a session's advisory locks when its connection ends, so a replica that
dies (SIGKILL, a lost node) gives the lease up without anyone's help, and a standby takes it
at its next attempt. If the holder's connection is cut while the process lives, it notices at
its next turn and competes again; meanwhile two relays may both publish, which the outbox
store keeps safe (each row once, in order).
"""

from __future__ import annotations

import hashlib
import logging

import asyncpg

log = logging.getLogger(__name__)

_TIMEOUT = 5.0


def lease_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_try_advisory_lock``."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), signed=True)


class PgRelayLease:
    def __init__(self, dsn: str, name: str) -> None:
        self._dsn = dsn
        self._name = name
        self._key = lease_key(name)
        self._connection: asyncpg.Connection | None = None
        self._held = False
        self._standing_by = False

    async def acquire(self) -> bool:
        if self._held and self._connection is not None and not self._connection.is_closed():
            return True
        if self._held:
            log.warning("relay lease %s lost: its database connection ended", self._name)
            self._held = False
        try:
            if self._connection is None or self._connection.is_closed():
                self._connection = await asyncpg.connect(self._dsn, timeout=_TIMEOUT)
            taken = await self._connection.fetchval(
                "SELECT pg_try_advisory_lock($1)", self._key, timeout=_TIMEOUT
            )
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            log.warning("relay lease %s: the database is unreachable: %s", self._name, error)
            await self._close()
            return False
        self._held = bool(taken)
        if self._held:
            log.info("relay lease %s taken: this process publishes the outbox", self._name)
            self._standing_by = False
        elif not self._standing_by:
            log.info("relay lease %s held by another process: standing by", self._name)
            self._standing_by = True
        return self._held

    async def release(self) -> None:
        if self._held:
            log.info("relay lease %s released", self._name)
        self._held = False
        self._standing_by = False
        await self._close()  # the session's end releases the lock

    async def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            try:
                await connection.close(timeout=_TIMEOUT)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                connection.terminate()

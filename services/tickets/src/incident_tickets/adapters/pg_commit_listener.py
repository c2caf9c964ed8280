"""Wakes the relay when ANY process commits outbox rows, through PostgreSQL LISTEN/NOTIFY.

The unit of work sends ``pg_notify(channel)`` inside the committing transaction, and
PostgreSQL delivers it only on commit. So a relay in another process (``python -m
incident_tickets relay``, or a replica's relay) is woken at commit like the in-process one,
instead of waiting for its next sweep. The sweep stays as the fallback: a lost notification
(for instance while this listener reconnects) only delays rows, never loses them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import asyncpg

log = logging.getLogger(__name__)

MAX_CHANNEL_BYTES = 63  # PostgreSQL's identifier limit


def notify_channel(namespace: str) -> str:
    return f"{namespace}.outbox"[:MAX_CHANNEL_BYTES]


class PgCommitListener:
    def __init__(
        self,
        dsn: str,
        channel: str,
        on_commit: Callable[[], None],
        *,
        sender: str = "",
        retry_seconds: float = 1.0,
    ) -> None:
        """``sender``: the payload this process's own commits send; the in-process wake-up
        already covers them, so they are skipped here."""
        self._dsn = dsn
        self._channel = channel
        self._sender = sender
        self._on_commit = on_commit
        self._retry = retry_seconds
        self._task: asyncio.Task[None] | None = None
        self.listening = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self._listen_until_lost()
                log.warning("outbox listener lost its database connection; reconnecting")
            except (OSError, asyncpg.PostgresError, TimeoutError) as error:
                log.warning("outbox listener cannot listen (%s); retrying", error)
            await asyncio.sleep(self._retry)

    async def _listen_until_lost(self) -> None:
        lost = asyncio.Event()
        connection: Any = await asyncpg.connect(self._dsn, timeout=10)
        try:
            connection.add_termination_listener(lambda _connection: lost.set())
            await connection.add_listener(self._channel, self._notified)
            self.listening = True
            # Rows committed while nobody listened: let the relay look once now.
            self._on_commit()
            await lost.wait()
        finally:
            self.listening = False
            if not connection.is_closed():
                with contextlib.suppress(Exception):
                    await connection.close(timeout=2)

    def _notified(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        if not self._sender or payload != self._sender:
            self._on_commit()

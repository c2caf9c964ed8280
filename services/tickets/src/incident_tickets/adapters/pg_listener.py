"""One PostgreSQL LISTEN connection per process, for the notifications other processes send.

- ``outbox_channel``: the unit of work sends ``pg_notify`` inside every transaction that
  writes outbox rows, and PostgreSQL delivers it only on commit. So a relay in another
  process (``python -m incident_tickets relay``, or a replica's relay) is woken at commit like
  the in-process one, instead of waiting for its next sweep. The sweep stays as the fallback:
  a lost notification only delays rows, never loses them.
- ``users_channel``: saving a user announces its id, so that every process drops the copy
  it keeps for authentication (``service.active_users``).

Whoever subscribes is told when listening starts (notifications sent before were missed:
look again) and when the connection is lost (notifications may be missed until it is back).
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


def outbox_channel(namespace: str) -> str:
    return f"{namespace}.outbox"[:MAX_CHANNEL_BYTES]


def users_channel(namespace: str) -> str:
    return f"{namespace}.users"[:MAX_CHANNEL_BYTES]


class PgListener:
    def __init__(self, dsn: str, *, retry_seconds: float = 1.0) -> None:
        self._dsn = dsn
        self._retry = retry_seconds
        self._handlers: dict[str, Callable[[str], None]] = {}
        self._on_listening: list[Callable[[], None]] = []
        self._on_lost: list[Callable[[], None]] = []
        self._task: asyncio.Task[None] | None = None
        self._listening = False

    def subscribe(
        self,
        channel: str,
        on_notify: Callable[[str], None],
        *,
        on_listening: Callable[[], None] | None = None,
        on_lost: Callable[[], None] | None = None,
    ) -> None:
        """Before ``start``: ``on_notify`` gets each notification's payload."""
        assert self._task is None, "subscribe before start"
        self._handlers[channel] = on_notify
        if on_listening is not None:
            self._on_listening.append(on_listening)
        if on_lost is not None:
            self._on_lost.append(on_lost)

    @property
    def subscribed(self) -> bool:
        return bool(self._handlers)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="pg-listener")

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
                log.warning("database listener lost its connection; reconnecting")
            except (OSError, asyncpg.PostgresError, TimeoutError) as error:
                log.warning("database listener cannot listen (%s); retrying", error)
            await asyncio.sleep(self._retry)

    async def _listen_until_lost(self) -> None:
        lost = asyncio.Event()
        connection: Any = await asyncpg.connect(self._dsn, timeout=10)
        try:
            connection.add_termination_listener(lambda _connection: lost.set())
            for channel in self._handlers:
                await connection.add_listener(channel, self._notified)
            self._listening = True
            for callback in self._on_listening:
                callback()
            await lost.wait()
        finally:
            if self._listening:
                self._listening = False
                for callback in self._on_lost:
                    callback()
            if not connection.is_closed():
                with contextlib.suppress(Exception):
                    await connection.close(timeout=2)

    def _notified(self, _connection: object, _pid: int, channel: str, payload: str) -> None:
        handler = self._handlers.get(channel)
        if handler is not None:
            handler(payload)

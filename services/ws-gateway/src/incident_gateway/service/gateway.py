"""The gateway's use cases: admit, open, receive, deliver, replay, keep presence, shut down.

Each open connection is a :class:`Connection`: the client's :class:`Peer` and its sans-I/O
:class:`Session`. This module carries out the sessions' effects through the ports. The only
per-connection work is what a client asks for; everything periodic (presence heartbeats,
token expiry, slow clients, reading the delivery stream) is done by ONE task per instance,
so an idle connection costs no task of ours and little memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from incident_gateway.domain.auth import ACCOUNT_INACTIVE, Identity
from incident_gateway.domain.errors import InvalidToken, ReplayUnavailable
from incident_gateway.domain.protocol import (
    CLOSE_TOKEN_EXPIRED,
    CLOSE_TRY_AGAIN_LATER,
    CloseConnection,
    Effect,
    FetchMissing,
    SendFrame,
    Session,
    SessionLimits,
    VerifyRefresh,
)
from incident_gateway.service.ports import (
    BackendUnavailable,
    DeliveryFeed,
    InactiveUsers,
    Metrics,
    Peer,
    PresenceStore,
    ReplaySource,
    StreamEntry,
    TokenAuthority,
    WriteBatching,
)
from incident_gateway.service.routing import (
    LocalRoutes,
    RoutedDelivery,
    parse_entry,
    presence_expiry_ms,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class GatewayLimits:
    presence_ttl_seconds: float = 30.0
    heartbeat_interval_seconds: float = 10.0
    sweep_interval_seconds: float = 0.5
    """How often token expiry, slow clients and Redis' memory of this instance are checked."""
    replay_page_size: int = 200
    replay_attempts: int = 3
    replay_retry_delay: float = 0.2
    """Doubled after each failed read of stored records."""
    slow_client_bytes: int = 256 * 1024
    """A client with more than this written and unread is slow ..."""
    slow_client_seconds: float = 5.0
    """... and is disconnected when it stays slow this long."""
    max_buffered_bytes: int = 4 * 1024 * 1024
    """A client with more than this unread is disconnected at once."""
    stream_block_ms: int = 5000
    stream_batch: int = 2000
    """Entries read at most at once. Only a backlog fills a batch; a full one holds several
    frames for busy users, which are written together (one write per connection per batch)."""
    backlog_write_entries: int = 60_000
    """While batches come full (a backlog), their frames are written together up to this many
    entries: at thousands of users a batch holds about one frame per connection, and a write
    (a system call) per frame is most of the cost. Each held frame waits for at most this many
    entries to be read, which the backlog made it wait for anyway; 0 writes every batch.
    At 10,000 connections 60,000 (about six frames a write) delivered 93,000-122,000 frames/s
    where 20,000 delivered 74,000-82,000 (`python -m bench.suite --skip e2e,idle`)."""
    session: SessionLimits = field(default_factory=SessionLimits)


class Connection:
    """One open WebSocket: who holds it, how to reach it, what it has been sent."""

    __slots__ = ("__weakref__", "peer", "session", "slow_since")

    def __init__(self, peer: Peer, session: Session) -> None:
        self.peer = peer
        self.session = session
        self.slow_since: float | None = None


class Gateway:
    def __init__(
        self,
        *,
        instance_id: str,
        tokens: TokenAuthority,
        presence: PresenceStore,
        feed: DeliveryFeed,
        replay: ReplaySource,
        metrics: Metrics,
        limits: GatewayLimits | None = None,
        clock: Callable[[], float] = time.time,
        writes: WriteBatching | None = None,
        inactive: InactiveUsers | None = None,
    ) -> None:
        """``inactive``: where deactivated users are found, to close their open connections
        (None: only their handshakes are refused, by ``tokens``)."""
        self.instance_id = instance_id
        self.limits = limits or GatewayLimits()
        self.routes: LocalRoutes[Connection] = LocalRoutes()
        self._tokens = tokens
        self._presence = presence
        self._feed = feed
        self._replay = replay
        self._metrics = metrics
        self._clock = clock
        self._admitting: dict[int, int] = {}
        # Presence writes for one user must reach Redis in the order they were decided:
        # a ZREM of a last disconnect must not overtake the ZADD of a reconnect.
        self._presence_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_entry_id: str | None = None
        self._read_ahead: asyncio.Future[list[StreamEntry]] | None = None
        self._writes = writes
        self._inactive = inactive
        self._held_entries = 0
        self._last_heartbeat = float("-inf")
        self._closing = False
        # Notifications written and not yet counted, by routed_at_ms (None: replayed).
        self._written: dict[int | None, int] = {}

    # --- handshake ---------------------------------------------------------------------
    async def identify(self, token: str) -> Identity:
        """The token's holder; a refused token is counted and re-raised."""
        try:
            return await self._tokens.identify(token)
        except InvalidToken as error:
            self._metrics.handshake_rejected(error.code)
            raise

    def refused(self, code: str) -> None:
        """A handshake refused before its token was looked at (path, origin, no token)."""
        self._metrics.handshake_rejected(code)

    async def admit(self, identity: Identity) -> None:
        """Register presence BEFORE the client learns it is connected.

        A client that acts right after its handshake (creates a ticket, say) must find its
        notification routed here; so the presence write happens before the 101 answer.
        """
        user_id = identity.user_id
        self._admitting[user_id] = self._admitting.get(user_id, 0) + 1
        if self.routes.has(user_id):
            return  # already registered (and kept by the heartbeat)
        async with self._presence_lock:
            try:
                await self._register([user_id])
            except BackendUnavailable as error:
                # The heartbeat registers every local user again once Redis answers.
                log.warning("presence not registered for user %s: %s", user_id, error)

    def open(self, peer: Peer, identity: Identity, since: int | None) -> Connection:
        """The handshake completed: start serving this connection."""
        user_id = identity.user_id
        pending = self._admitting.get(user_id, 0)
        if pending <= 1:
            self._admitting.pop(user_id, None)
        else:
            self._admitting[user_id] = pending - 1
        connection = Connection(peer, Session(identity, self.limits.session, self._clock()))
        self.routes.add(user_id, connection)
        self._metrics.connection_opened()
        self._apply(connection, connection.session.start(since), reason="since")
        return connection

    # --- client frames -----------------------------------------------------------------
    def receive(self, connection: Connection, data: str | bytes) -> None:
        self._apply(connection, connection.session.receive(data, self._clock()))

    def closed(self, connection: Connection) -> None:
        """The connection is gone (whoever closed it)."""
        connection.session.closed = True
        user_id = connection.session.user_id
        if connection not in self.routes.connections_of(user_id):
            return  # told twice
        last = self.routes.remove(user_id, connection)
        self._metrics.connection_closed()
        if last and not self._closing:
            self._spawn(self._unregister_if_gone(user_id))

    # --- live deliveries ---------------------------------------------------------------
    async def start(self) -> None:
        """Remember where this instance's stream ends now; read from there on.

        Called before any presence is registered, so that nothing routed to this instance
        after its first registration is skipped, and nothing older is sent.
        """
        self._last_entry_id = await self._feed.current_end()

    async def pump(self) -> int:
        """Read one batch of routed deliveries and send them; returns how many were read.

        A full batch means a backlog: the next one is asked for before this one is sent, so
        Redis prepares it while this process writes (they no longer wait for each other).
        """
        if self._last_entry_id is None:
            await self.start()
        assert self._last_entry_id is not None
        try:
            entries = await self._next_batch(self._last_entry_id)
        except BaseException:
            self._release_writes()
            raise
        if not entries:
            self._release_writes()  # the backlog is read: nothing more to wait for
            return 0
        self._metrics.routed(len(entries))
        self._last_entry_id = entries[-1][0]
        backlog = len(entries) >= self.limits.stream_batch
        if backlog:
            # Not waiting for entries: held frames must not wait for ones that are not there.
            self._read_ahead = await self._feed.read_ahead(
                self._last_entry_id, self.limits.stream_batch
            )
        self._batch_writes(backlog, len(entries))
        try:
            for entry_id, fields in entries:
                delivery = parse_entry(fields)
                if delivery is None:
                    log.warning("ignoring a malformed delivery entry %s", entry_id)
                    continue
                self._dispatch(delivery)
        finally:
            # Once per batch, not per frame: the metrics cost ~13% of the delivery work else.
            self._count_written()
        return len(entries)

    def _batch_writes(self, backlog: bool, entries: int) -> None:
        """Hold this batch's frames for the next one's while a backlog lasts (and the held
        ones number fewer than ``backlog_write_entries``); else write them with it."""
        if self._writes is None:
            return
        if backlog and self._held_entries + entries < self.limits.backlog_write_entries:
            if not self._held_entries:
                self._writes.hold()
            self._held_entries += entries
        else:
            self._release_writes()

    def _release_writes(self) -> None:
        if self._writes is not None and self._held_entries:
            self._held_entries = 0
            self._writes.release()

    async def _next_batch(self, after: str) -> list[StreamEntry]:
        ahead, self._read_ahead = self._read_ahead, None
        if ahead is None:
            return await self._feed.read_after(
                after, self.limits.stream_block_ms, self.limits.stream_batch
            )
        try:
            return await ahead
        except BaseException:
            ahead.cancel()  # this pump was cancelled (shutdown): the read must not linger
            raise

    def _dispatch(self, delivery: RoutedDelivery) -> None:
        connections = self.routes.connections_of(delivery.user_id)
        if not connections:
            self._metrics.unroutable()
            return
        for connection in connections:
            effects = connection.session.deliver(
                delivery.seq, delivery.frame, delivery.routed_at_ms
            )
            self._carry_out(connection, effects, reason="gap")

    async def run_pump(self, stop: asyncio.Event) -> None:
        delay = 0.0
        while not stop.is_set():
            try:
                await self.pump()
            except BackendUnavailable as error:
                delay = min(2.0, delay * 2 or 0.1)
                log.warning("delivery stream unreadable, retrying in %.1f s: %s", delay, error)
                await _sleep_unless(stop, delay)
                continue
            except Exception:  # a bug must not stop every delivery of this instance
                log.exception("delivery pump round failed")
                await _sleep_unless(stop, 1.0)
                continue
            if delay:
                delay = 0.0
                log.info("delivery stream readable again; registering presence again")
                await self.heartbeat()
                self.resync()

    # --- presence, expiry, slow clients ------------------------------------------------
    async def heartbeat(self) -> None:
        """Register every local user again (one pipelined write for all of them), then close
        the connections of users deactivated since they connected."""
        async with self._presence_lock:
            users = self.routes.users()
            try:
                await self._register(users)
            except BackendUnavailable as error:
                log.warning("presence heartbeat failed: %s", error)
                return
        self._last_heartbeat = time.monotonic()
        await self._close_deactivated(users)

    async def _close_deactivated(self, users: Sequence[int]) -> None:
        """A deactivated user's token is revoked: its connections end as an expired one's
        would (4401), within a heartbeat interval of the deactivation reaching Redis."""
        if self._inactive is None or not users:
            return
        try:
            inactive = await self._inactive.among(users)
        except BackendUnavailable as error:
            log.warning("could not look for deactivated users: %s", error)
            return
        for user_id in inactive:
            closed = 0
            for connection in list(self.routes.connections_of(user_id)):
                if self._end(connection, CLOSE_TOKEN_EXPIRED, ACCOUNT_INACTIVE):
                    closed += 1
            if closed:
                log.info("closed %d connection(s) of deactivated user %s", closed, user_id)

    def sweep(self, now: float) -> None:
        """Close expired and slow connections."""
        limits = self.limits
        for connection in list(self.routes):
            effects = connection.session.tick(now)
            if effects:
                self._apply(connection, effects)
                continue
            if connection.peer.buffered_bytes <= limits.slow_client_bytes:
                connection.slow_since = None
            elif connection.slow_since is None:
                connection.slow_since = now
            elif now - connection.slow_since >= limits.slow_client_seconds:
                self._disconnect_slow(connection)

    async def maintain(self) -> None:
        """One round of the periodic work: sweep, and heartbeat when due or forgotten."""
        self.sweep(self._clock())
        if self._last_heartbeat > float("-inf"):
            try:
                # Redis restarted (it forgets everything): register again now, not later,
                # even when a heartbeat is due anyway (it would hide the restart).
                forgotten = not await self._presence.intact()
            except BackendUnavailable:
                forgotten = False
            if forgotten:
                log.warning("presence was forgotten by Redis; registering again")
                await self.heartbeat()
                # Whatever was routed while Redis was away is lost; the last ones of a user
                # would wait for a later notification to reveal the gap, maybe forever.
                self.resync()
                return
        if time.monotonic() - self._last_heartbeat >= self.limits.heartbeat_interval_seconds:
            await self.heartbeat()

    def resync(self) -> None:
        """Every local connection looks in the store for what it may have missed."""
        for connection in list(self.routes):
            self._apply(connection, connection.session.resync(), reason="gap")

    async def run_maintenance(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.maintain()
            except Exception:  # the loop must outlive any single failure
                log.exception("maintenance round failed")
            await _sleep_unless(stop, self.limits.sweep_interval_seconds)

    # --- shutdown ----------------------------------------------------------------------
    async def withdraw(self) -> None:
        """Stop being a destination: remove this instance from every local user's presence."""
        self._closing = True
        async with self._presence_lock:
            try:
                await self._presence.unregister(self.routes.users())
            except BackendUnavailable as error:
                log.warning("presence not removed (it expires by itself): %s", error)

    async def settle(self) -> None:
        """Wait until the background work started so far (replays, refreshes) is done."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def stop_tasks(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # --- effects -----------------------------------------------------------------------
    def _apply(
        self, connection: Connection, effects: Sequence[Effect], reason: str = "gap"
    ) -> None:
        self._carry_out(connection, effects, reason)
        self._count_written()

    def _carry_out(self, connection: Connection, effects: Sequence[Effect], reason: str) -> None:
        """``_apply`` without counting the writes: the caller counts them (``_count_written``)."""
        for effect in effects:
            if isinstance(effect, SendFrame):
                self._send(connection, effect)
            elif isinstance(effect, CloseConnection):
                connection.peer.close(effect.code, effect.reason)
            elif isinstance(effect, FetchMissing):
                self._spawn(self._fetch(connection, effect, reason))
            elif isinstance(effect, VerifyRefresh):
                self._spawn(self._refresh(connection, effect.token))

    def _send(self, connection: Connection, effect: SendFrame) -> None:
        connection.peer.send(effect.frame)
        if effect.seq is not None:
            written = self._written
            written[effect.routed_at_ms] = written.get(effect.routed_at_ms, 0) + 1
        if connection.peer.buffered_bytes > self.limits.max_buffered_bytes:
            self._disconnect_slow(connection)

    def _count_written(self) -> None:
        """Report the notifications written since the last report, one call per routing time.

        The latency is read once, after the batch's last frame is handed to its peer: the
        peers write at the end of the same turn of the event loop (under a backlog, when the
        held writes are released: up to ``backlog_write_entries`` entries later).
        """
        if not self._written:
            return
        now = self._clock()
        for routed_at_ms, count in self._written.items():
            latency = None if routed_at_ms is None else max(0.0, now - routed_at_ms / 1000)
            self._metrics.delivered(count, latency)
        self._written.clear()

    def _disconnect_slow(self, connection: Connection) -> None:
        if self._end(connection, CLOSE_TRY_AGAIN_LATER, "client too slow, resume with since"):
            self._metrics.slow_client_disconnected()
            log.info("disconnecting a slow client of user %s", connection.session.user_id)

    @staticmethod
    def _end(connection: Connection, code: int, reason: str) -> bool:
        """Close a connection on the server's initiative, once: nothing more is sent to it.
        False when it was closed already."""
        if connection.session.closed:
            return False
        connection.session.closed = True
        connection.peer.close(code, reason)
        return True

    async def _fetch(self, connection: Connection, fetch: FetchMissing, reason: str) -> None:
        if fetch.delay:
            await asyncio.sleep(fetch.delay)
        session = connection.session
        if session.closed:
            return
        self._metrics.replay_fetch(reason)
        for attempt in range(self.limits.replay_attempts):
            try:
                batch = await self._replay.after(
                    session.user_id, fetch.after_seq, self.limits.replay_page_size
                )
            except ReplayUnavailable as error:
                log.warning("replay for user %s failed: %s", session.user_id, error.detail)
                await asyncio.sleep(self.limits.replay_retry_delay * 2**attempt)
                continue
            self._apply(connection, session.replayed(batch.records, batch.has_more), reason)
            return
        self._apply(connection, session.replay_failed())

    async def _refresh(self, connection: Connection, token: str) -> None:
        session = connection.session
        try:
            identity = await self._tokens.identify(token)
        except InvalidToken as error:
            self._apply(connection, session.refresh_refused(error.code, error.detail))
            return
        self._apply(connection, session.refresh_accepted(identity))

    async def _register(self, user_ids: Sequence[int]) -> None:
        ttl_ms = int(self.limits.presence_ttl_seconds * 1000)
        expires_at_ms = presence_expiry_ms(int(self._clock() * 1000), ttl_ms)
        await self._presence.register(user_ids, expires_at_ms, ttl_ms)

    async def _unregister_if_gone(self, user_id: int) -> None:
        async with self._presence_lock:
            if self.routes.has(user_id) or self._admitting.get(user_id) or self._closing:
                return  # reconnected meanwhile, or the shutdown removes everything at once
            try:
                await self._presence.unregister([user_id])
            except BackendUnavailable as error:
                log.warning("presence of user %s not removed (it expires): %s", user_id, error)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)

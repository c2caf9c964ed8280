"""The only code that touches sockets: a websockets server and the HTTP routes beside it.

``process_request`` answers /healthz, /readyz and /metrics, and authenticates the upgrade of
/ws/notifications/ (HTTP 401/403/404 before any upgrade). ``process_response`` registers
presence before the 101 goes out. The connection handler only feeds received frames to the
use cases; notifications are written from the one task reading the delivery stream, without
awaiting any client (a slow client is found by its write buffer and closed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.typing import Subprotocol

from incident_gateway.adapters.pending_writes import PendingWrites
from incident_gateway.config import Settings
from incident_gateway.domain.auth import (
    BEARER_SUBPROTOCOL,
    Admission,
    Identity,
    read_admission,
    split_target,
)
from incident_gateway.domain.errors import GatewayError, InvalidToken
from incident_gateway.domain.protocol import CLOSE_INTERNAL_ERROR, CLOSE_SERVICE_RESTART
from incident_gateway.entrypoints.http_routes import ReadinessCheck, error_response, http_route
from incident_gateway.service.gateway import Gateway
from incident_gateway.service.ports import BackendUnavailable

log = logging.getLogger(__name__)


WRITE_AT_BYTES = 64 * 1024
"""A peer holding this much framed and unwritten writes it at once, held or not."""


class WebSocketPeer:
    """A websockets connection as the use cases' ``Peer``: writes never wait."""

    __slots__ = ("_closing", "_connection", "_pending", "_unwritten")

    def __init__(self, connection: ServerConnection, pending: PendingWrites) -> None:
        self._connection = connection
        self._closing: asyncio.Task[None] | None = None
        self._pending = pending
        self._unwritten = 0

    def send(self, frame: bytes) -> None:
        connection = self._connection
        if connection.protocol.state is not State.OPEN:
            return
        # What websockets.broadcast does, written at the end of this turn: no drain.
        try:
            connection.protocol.send_text(frame)
        except Exception as error:  # a dying connection must not stop the other deliveries
            log.debug("dropped a frame for a closing connection: %s", error)
            return
        if not self._unwritten:
            self._pending.add(self)
        self._unwritten += len(frame)
        if self._unwritten >= WRITE_AT_BYTES:
            self.flush()  # large enough to be one write already; held longer, it would count
            # against the client as unread (and could pass the slow-client limits)

    def flush(self) -> None:
        """Write what the protocol holds (``send_data`` would make one write per frame)."""
        self._unwritten = 0
        connection = self._connection
        try:
            if connection.protocol.state is State.OPEN:
                data = connection.protocol.data_to_send()
                if data:
                    connection.transport.writelines(data)
            else:  # closing: the library's own way, with its end of stream
                connection.send_data()
        except Exception as error:  # a dying transport must not stop the other deliveries
            log.debug("dropped frames for a closing connection: %s", error)

    def close(self, code: int, reason: str) -> None:
        if self._closing is None:
            self._closing = asyncio.get_running_loop().create_task(
                self._connection.close(code, reason)
            )

    @property
    def buffered_bytes(self) -> int:
        transport = self._connection.transport
        if transport.is_closing():
            return 0
        return transport.get_write_buffer_size() + self._unwritten


def _forget_handshake(connection: ServerConnection) -> None:
    """Drop the handshake's headers once open: ~3 KiB per idle connection, and the token.

    websockets keeps the request and response for the connection's lifetime (its parser
    holds the request too), though nothing reads them after the handshake: empty them in place.
    """
    request, response = connection.request, connection.response
    if request is not None:
        request.path = _OPENED_PATH
        request.headers = Headers()
    if response is not None:
        response.headers = Headers()
        response.body = b""


_OPENED_PATH = "/ws/notifications/"


@dataclass(frozen=True, slots=True)
class _Pending:
    identity: Identity
    admission: Admission


class GatewayServer:
    def __init__(
        self,
        gateway: Gateway,
        settings: Settings,
        readiness: ReadinessCheck,
        exposition: Callable[[], bytes],
        writes: PendingWrites,
    ) -> None:
        self._gateway = gateway
        self._settings = settings
        self._readiness = readiness
        self._exposition = exposition
        # Weak: a connection lost between the handshake and the handler leaves nothing.
        self._pending: weakref.WeakKeyDictionary[ServerConnection, _Pending] = (
            weakref.WeakKeyDictionary()
        )
        self._writes = writes

    async def process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        path, _ = split_target(request.path)
        routed = await http_route(path, self._readiness, self._exposition)
        if routed is not None:
            return routed
        try:
            admission = read_admission(
                request.path,
                request.headers.get_all("Sec-WebSocket-Protocol"),
                request.headers.get("Origin"),
                self._settings.allowed_origins,
            )
            identity = await self._gateway.identify(admission.token)
        except InvalidToken as error:
            return error_response(error)  # counted by identify()
        except GatewayError as error:
            self._gateway.refused(error.code)
            return error_response(error)
        self._pending[connection] = _Pending(identity, admission)
        return None

    async def process_response(
        self, connection: ServerConnection, request: Request, response: Response
    ) -> Response | None:
        pending = self._pending.get(connection)
        if pending is None:
            return None
        if response.status_code != 101:
            del self._pending[connection]
            return None
        await self._gateway.admit(pending.identity)
        return None

    def select_subprotocol(
        self, connection: ServerConnection, subprotocols: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        for offered in subprotocols:
            if offered.lower() == BEARER_SUBPROTOCOL:
                return offered
        return None

    async def handle(self, connection: ServerConnection) -> None:
        pending = self._pending.pop(connection, None)
        if pending is None:  # cannot happen: every upgrade went through process_request
            await connection.close(CLOSE_INTERNAL_ERROR, "not admitted")
            return
        _forget_handshake(connection)
        opened = self._gateway.open(
            WebSocketPeer(connection, self._writes), pending.identity, pending.admission.since
        )
        try:
            while True:  # not ``async for``: one async generator less per idle connection
                self._gateway.receive(opened, await connection.recv())
        except ConnectionClosed:
            pass  # abnormal closes (1006, 1009 too big, ...) end the session like normal ones
        finally:
            self._gateway.closed(opened)

    async def serve(self, stop: asyncio.Event, on_listening: Callable[[], None]) -> None:
        settings = self._settings
        quiet = logging.getLogger("websockets.server")
        async with serve(
            self.handle,
            settings.host,
            settings.port,
            process_request=self.process_request,
            process_response=self.process_response,
            select_subprotocol=self.select_subprotocol,
            max_size=settings.max_frame_bytes,
            max_queue=settings.max_queue,
            write_limit=settings.write_limit_bytes,
            ping_interval=None,  # one shared keepalive task instead of one per connection
            ping_timeout=None,
            close_timeout=settings.close_timeout_seconds,
            compression=None,  # per-message deflate costs ~100 KiB per connection
            logger=quiet,
            server_header=None,
        ) as server:
            keepalive = asyncio.create_task(self._keepalive(server, stop), name="keepalive")
            on_listening()
            await stop.wait()
            keepalive.cancel()
            log.info("shutting down: refusing new connections")
            server.server.close()  # stop accepting; open connections stay for now
            await self._gateway.withdraw()
            log.info("closing %d connections with 1012", len(self._gateway.routes))
            server.close(code=CLOSE_SERVICE_RESTART, reason="service restart")
            await server.wait_closed()

    async def _keepalive(self, server: Server, stop: asyncio.Event) -> None:
        """Protocol-level pings for every connection, from ONE task: dead peers are aborted.

        websockets would run a keepalive task per connection; at many thousands of idle
        connections one loop costs less. A peer that has not answered the previous ping
        after ``ping_timeout`` is gone (its handler then ends and frees everything).
        A peer whose writes are backed up is left to the slow-client rule.
        """
        interval = self._settings.ping_interval_seconds
        timeout = self._settings.ping_timeout_seconds
        if not interval:
            return
        loop = asyncio.get_running_loop()
        pending: weakref.WeakKeyDictionary[ServerConnection, tuple[asyncio.Future[float], float]]
        pending = weakref.WeakKeyDictionary()
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
            if stop.is_set():
                return
            now = loop.time()
            for count, connection in enumerate(list(server.connections)):
                sent = pending.get(connection)
                if sent is not None and not sent[0].done():
                    if timeout and now - sent[1] >= timeout:
                        log.info("aborting a connection that answers no pings")
                        connection.transport.abort()
                    continue
                # No await between this check and ping()'s own, which would otherwise wait
                # for a closing connection to finish closing.
                if connection.paused or connection.protocol.state is not State.OPEN:
                    continue
                try:
                    pending[connection] = (asyncio.ensure_future(await connection.ping()), now)
                except ConnectionClosed:
                    continue
                if count % 500 == 499:
                    await asyncio.sleep(0)  # let deliveries through between batches


async def run_instance(
    settings: Settings,
    gateway: Gateway,
    readiness: ReadinessCheck,
    exposition: Callable[[], bytes],
    stop: asyncio.Event,
    writes: PendingWrites,
) -> None:
    """Serve until ``stop`` is set, then shut down gracefully (1012, presence removed)."""
    if not await _wait_for_stream(gateway, stop):
        return
    workers = [
        asyncio.create_task(gateway.run_pump(stop), name="delivery-pump"),
        asyncio.create_task(gateway.run_maintenance(stop), name="maintenance"),
    ]

    def listening() -> None:
        log.info(
            "instance %s listening on %s:%d (JWKS %s, replay from %s)",
            settings.instance_id,
            settings.host,
            settings.port,
            settings.jwks_url,
            settings.notifier_url,
        )

    try:
        await GatewayServer(gateway, settings, readiness, exposition, writes).serve(stop, listening)
    finally:
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        await gateway.stop_tasks()
    log.info("instance %s stopped", settings.instance_id)


async def _wait_for_stream(gateway: Gateway, stop: asyncio.Event) -> bool:
    """Find the end of the delivery stream before accepting anyone; False when stopped."""
    while not stop.is_set():
        try:
            await gateway.start()
            return True
        except BackendUnavailable as error:
            log.warning("waiting for Redis: %s", error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
    return False

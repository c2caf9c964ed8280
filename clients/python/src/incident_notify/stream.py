"""The live notification stream: connect, resume, renew, reconnect, forever.

    async with ApiClient(base) as api:
        await api.login("alice", "secret")
        async for event in NotificationStream(api).events():
            if isinstance(event, Notification):
                print(event.message)

All decisions are in ``protocol.ResumeState`` and ``backoff.Backoff``; this module only does
the I/O around them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Subprotocol

from incident_notify.api import ApiClient, ApiError, SessionExpired
from incident_notify.backoff import Backoff
from incident_notify.events import Connected, Disconnected, Event, TokensRefreshed
from incident_notify.protocol import AfterClose, ResumeState, refresh_frame

HTTP_UNAUTHORIZED = 401


class NotificationStream:
    """Yields ``events.Event`` values until the caller stops iterating.

    Raises ``SessionExpired`` when the tokens can no longer be renewed (sign in again).
    """

    def __init__(
        self,
        api: ApiClient,
        *,
        since: int | None = None,
        backoff: Backoff | None = None,
        refresh_margin: float = 30.0,
        open_timeout: float = 10.0,
    ) -> None:
        self.api = api
        self.state = ResumeState(since)
        self.backoff = backoff or Backoff()
        self.refresh_margin = refresh_margin
        self.open_timeout = open_timeout
        self._queue: asyncio.Queue[Event | BaseException] = asyncio.Queue()
        self._socket: ClientConnection | None = None

    @property
    def last_seq(self) -> int | None:
        return self.state.last_seq

    async def events(self) -> AsyncGenerator[Event, None]:
        runner = asyncio.create_task(self._run())
        renewer = asyncio.create_task(self._renew_ahead())
        try:
            while True:
                item = await self._queue.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            for task in (runner, renewer):
                task.cancel()
            for task in (runner, renewer):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    # --- the connection loop --------------------------------------------------------------
    async def _run(self) -> None:
        try:
            await self._connect_forever()
        except asyncio.CancelledError:
            raise
        except BaseException as error:  # hand every failure to the consumer, not the loop
            self._queue.put_nowait(error)

    async def _connect_forever(self) -> None:
        renewed_this_outage = False
        while True:
            tokens = self.api.tokens
            if tokens is None:
                raise SessionExpired(401, "not_authenticated", "Sign in first.")
            if tokens.expires_within(self.refresh_margin):
                await self._renew()
            code: int | None = None
            reason = ""
            try:
                code, reason = await self._session()
                renewed_this_outage = False
            except InvalidStatus as error:
                status = error.response.status_code
                code, reason = None, f"handshake refused with HTTP {status}"
                if status == HTTP_UNAUTHORIZED:
                    if renewed_this_outage:
                        raise SessionExpired(
                            401, "invalid_token", "The server refuses the session's tokens."
                        ) from error
                    renewed_this_outage = True
                    await self._renew()
                    continue
            except (OSError, TimeoutError, InvalidHandshake) as error:
                reason = f"cannot connect: {error}"
            if ResumeState.after_close(code) is AfterClose.RENEW_THEN_RECONNECT:
                await self._renew()
                self._queue.put_nowait(Disconnected(code, reason or "token expired", 0.0))
                continue
            delay = self.backoff.next()
            self._queue.put_nowait(Disconnected(code, reason, delay))
            await asyncio.sleep(delay)

    async def _session(self) -> tuple[int | None, str]:
        """One connection, from the handshake to the close; returns the close code and reason."""
        assert self.api.tokens is not None
        since = self.state.last_seq
        async with connect(
            self.state.url(self.api.base_url),
            subprotocols=[Subprotocol("bearer"), Subprotocol(self.api.tokens.access)],
            open_timeout=self.open_timeout,
            max_size=2**16,
            proxy=None,
        ) as socket:
            self._socket = socket
            self.backoff.reset()
            self._queue.put_nowait(Connected(since))
            try:
                async for frame in socket:
                    event = self.state.receive(frame)
                    if event is not None:
                        self._queue.put_nowait(event)
            except ConnectionClosed:
                pass
            finally:
                self._socket = None
            return socket.close_code, socket.close_reason or ""

    # --- tokens ---------------------------------------------------------------------------
    async def _renew(self) -> None:
        expired = self.api.tokens.access if self.api.tokens else None
        while True:
            try:
                tokens = await self.api.renew(expired=expired)
                break
            except SessionExpired:
                raise
            except ApiError as error:
                # The tickets service is unreachable: keep trying, with the same backoff.
                delay = self.backoff.next()
                self._queue.put_nowait(Disconnected(None, f"cannot renew: {error}", delay))
                await asyncio.sleep(delay)
        socket = self._socket
        if socket is not None:
            # The open connection would be closed with 4401 at the old token's expiry.
            with contextlib.suppress(ConnectionClosed):
                await socket.send(refresh_frame(tokens.access))
        self._queue.put_nowait(TokensRefreshed(tokens.access, tokens.refresh))

    async def _renew_ahead(self) -> None:
        """Renew the access token shortly before it expires, so connections never lapse."""
        try:
            while True:
                tokens = self.api.tokens
                wait = tokens.seconds_until_renewal(self.refresh_margin) if tokens else None
                if wait is None:
                    return
                await asyncio.sleep(max(wait, 1.0))
                if self.api.tokens is tokens:
                    await self._renew()
        except asyncio.CancelledError:
            raise
        except BaseException as error:
            self._queue.put_nowait(error)

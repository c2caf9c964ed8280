"""Publishes outbox messages to the events exchange with publisher confirms (aiormq)."""

from __future__ import annotations

import asyncio
import contextlib

import aiormq

from incident_tickets.service.ports import OutboxMessage

_PERSISTENT = 2
"""AMQP delivery mode 2: the broker writes the message to disk (the queues are durable)."""


class _PipelinedConnection(aiormq.Connection):
    """aiormq's connection with room in its write queue for a whole relay batch.

    Every publish puts its frames on the connection's write queue under the channel's lock.
    aiormq's queue holds 10 entries: the eleventh publish of a pipelined batch blocks while
    holding the lock, and from then on each message waits for a lock hand-off, one
    event-loop turn apiece. Behind the API's requests a turn takes tens of milliseconds, so a
    batch of 200 took 5 s under load and the relay fell seconds behind (measured). With room
    for the batch, every publish of it takes the lock uncontended in a single turn.
    """

    FRAME_BUFFER_SIZE = 4096


class AmqpEventPublisher:
    """One connection and one confirming channel; reconnection is the relay's job."""

    def __init__(self, url: str, exchange: str, *, timeout: float = 10.0) -> None:
        self._url = url
        self._exchange_name = exchange
        self._timeout = timeout
        self._connection: aiormq.Connection | None = None
        self._channel: aiormq.Channel | None = None

    @property
    def connected(self) -> bool:
        # aiormq's flag flips when the broker goes away too (e.g. ``rabbitmqctl stop_app``).
        return self._connection is not None and not self._connection.is_closed

    async def connect(self) -> None:
        await self.close()
        connection = _PipelinedConnection(self._url)
        try:
            async with asyncio.timeout(self._timeout):
                await connection.connect()
                channel = await connection.channel(publisher_confirms=True)
                # The concrete class: the abstract one lacks basic_publish's ``wait``.
                assert isinstance(channel, aiormq.Channel)
                # The same declaration as the notifier's: a durable topic exchange.
                await channel.exchange_declare(
                    self._exchange_name, exchange_type="topic", durable=True
                )
        except BaseException:
            with contextlib.suppress(Exception):
                await connection.close()
            raise
        self._connection, self._channel = connection, channel

    async def publish(self, message: OutboxMessage) -> None:
        channel = self._channel
        if channel is None or not self.connected:
            raise ConnectionError("not connected to the broker")
        # wait=False: aiormq would otherwise hold the channel's lock until the writer task
        # has flushed this very message, one message per few event-loop turns. Frames still
        # go out in call order (the lock and the write queue keep it), and the confirm is
        # still awaited: a Nack raises DeliveryError, a lost channel fails the publish.
        await channel.basic_publish(
            message.body.encode(),
            exchange=self._exchange_name,
            routing_key=message.event_type,
            properties=aiormq.spec.Basic.Properties(
                message_id=message.event_id,
                content_type="application/json",
                delivery_mode=_PERSISTENT,
                message_type=message.event_type,
            ),
            mandatory=False,  # no queue bound yet is not an error: the exchange is the contract
            timeout=self._timeout,
            wait=False,
        )

    async def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and not connection.is_closed:
            # Closing a broken connection may fail; it is gone either way.
            with contextlib.suppress(Exception):
                await connection.close()

    async def ping(self) -> None:
        """Connect and disconnect: the readiness check when no relay runs in this process."""
        connection = aiormq.Connection(self._url)
        try:
            async with asyncio.timeout(min(self._timeout, 3.0)):
                await connection.connect()
        finally:
            with contextlib.suppress(Exception):
                await connection.close()

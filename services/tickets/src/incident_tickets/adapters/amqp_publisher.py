"""Publishes outbox messages to the events exchange with publisher confirms (aio-pika)."""

from __future__ import annotations

import contextlib

import aio_pika
from aio_pika.abc import AbstractConnection, AbstractExchange

from incident_tickets.service.ports import OutboxMessage


class AmqpEventPublisher:
    """One connection and one confirming channel; reconnection is the relay's job."""

    def __init__(self, url: str, exchange: str, *, timeout: float = 10.0) -> None:
        self._url = url
        self._exchange_name = exchange
        self._timeout = timeout
        self._connection: AbstractConnection | None = None
        self._exchange: AbstractExchange | None = None

    @property
    def connected(self) -> bool:
        connection = self._connection
        if connection is None or connection.is_closed:
            return False
        # aio-pika's own flag only flips on a local close(); the protocol connection below
        # knows when the broker went away (e.g. ``rabbitmqctl stop_app``).
        underlying = connection.transport
        return underlying is not None and not underlying.connection.is_closed

    async def connect(self) -> None:
        await self.close()
        connection = await aio_pika.connect(self._url, timeout=self._timeout)
        try:
            channel = await connection.channel(publisher_confirms=True)
            # The same declaration as the notifier's: a durable topic exchange.
            self._exchange = await channel.declare_exchange(
                self._exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
            )
        except BaseException:
            await connection.close()
            raise
        self._connection = connection

    async def publish(self, message: OutboxMessage) -> None:
        if self._exchange is None or not self.connected:
            raise ConnectionError("not connected to the broker")
        await self._exchange.publish(
            aio_pika.Message(
                message.body.encode(),
                message_id=message.event_id,
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                type=message.event_type,
            ),
            routing_key=message.event_type,
            mandatory=False,  # no queue bound yet is not an error: the exchange is the contract
            timeout=self._timeout,
        )

    async def close(self) -> None:
        connection, self._connection, self._exchange = self._connection, None, None
        if connection is not None and not connection.is_closed:
            # Closing a broken connection may fail; it is gone either way.
            with contextlib.suppress(Exception):
                await connection.close()

    async def ping(self) -> None:
        """Connect and disconnect: the readiness check when no relay runs in this process."""
        connection = await aio_pika.connect(self._url, timeout=min(self._timeout, 3.0))
        await connection.close()

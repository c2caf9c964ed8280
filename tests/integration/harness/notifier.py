"""Start the notifier as real processes (the inbox API and one or more queue consumers).

    with start_notifier(infra, tickets.url) as notifier:
        httpx.get(f"{notifier.url}/api/notifications/", headers=...)
        notifier.consumer.kill(); notifier.consumer.start()
        second = notifier.add_consumer()

Each call gets a fresh PostgreSQL database (unless ``database_url`` is given) and uses the
run's namespace, so its queue, exchanges and Redis keys are the run's own. ``start`` waits
for the consumer's /readyz: its queue is declared and bound, so an event published after
``start_notifier`` returns is never missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import TracebackType

import aio_pika

from harness.infra import Infra, free_port
from harness.processes import ServiceProcess
from incident_contracts import Names, TicketEvent, UserEvent

AnyEventModel = TicketEvent | UserEvent

NOTIFIER_MODULE = ["-m", "incident_notifier"]


@dataclass
class RunningNotifier:
    url: str
    """Base URL of the API process (inbox at /api/notifications/, replay at /internal/...)."""
    api: ServiceProcess
    consumer: ServiceProcess
    consumer_url: str
    database_url: str
    env: dict[str, str]
    name: str
    extra_consumers: list[ServiceProcess] = field(default_factory=list)

    def add_consumer(self, **env: str) -> ServiceProcess:
        """Another consumer process on the same queue and database (a second replica)."""
        index = len(self.extra_consumers) + 2
        process = _consumer(f"{self.name}-consumer{index}", {**self.env, **env})
        self.extra_consumers.append(process)
        process.start()
        return process

    @property
    def processes(self) -> list[ServiceProcess]:
        return [self.api, self.consumer, *self.extra_consumers]

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.terminate()

    def __enter__(self) -> RunningNotifier:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _consumer(name: str, env: dict[str, str]) -> ServiceProcess:
    port = free_port()
    return ServiceProcess(
        name,
        [*NOTIFIER_MODULE, "consumer"],
        env={**env, "NOTIFIER_CONSUMER_PORT": str(port)},
        health_url=f"http://127.0.0.1:{port}/readyz",
        startup_timeout=60.0,
    )


def _create_database(infra: Infra) -> str:
    # Infra.create_database runs its own event loop; from an async test, use another thread.
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return infra.create_database("notifier")
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(infra.create_database, "notifier").result()


def start_notifier(
    infra: Infra,
    tickets_url: str,
    *,
    database_url: str | None = None,
    name: str = "notifier",
    start_consumer: bool = True,
    **env: str,
) -> RunningNotifier:
    """Start the notifier's API and consumer processes; ``env`` overrides any variable
    (e.g. ``NOTIFIER_MAX_ATTEMPTS="2"``, ``NOTIFIER_DIRECTORY_SYNC="false"``)."""
    database_url = database_url or _create_database(infra)
    base_env = {
        "NOTIFIER_DATABASE_URL": database_url,
        "AMQP_URL": infra.amqp_url,
        "REDIS_URL": infra.redis_url,
        "INCIDENT_NAMESPACE": infra.namespace,
        "TICKETS_URL": tickets_url,
        "NOTIFIER_HOST": "127.0.0.1",
        "NOTIFIER_LOG_LEVEL": "INFO",
        **env,
    }
    api_port = free_port()
    url = f"http://127.0.0.1:{api_port}"
    api = ServiceProcess(
        f"{name}-api",
        [*NOTIFIER_MODULE, "api"],
        env={**base_env, "NOTIFIER_PORT": str(api_port)},
        health_url=f"{url}/readyz",
        startup_timeout=60.0,
    )
    consumer = _consumer(f"{name}-consumer", base_env)
    try:
        api.start()
        if start_consumer:
            consumer.start()
    except BaseException:
        # A process that never became healthy must not outlive the test.
        consumer.terminate()
        api.terminate()
        raise
    consumer_url = consumer.health_url.removesuffix("/readyz")
    return RunningNotifier(url, api, consumer, consumer_url, database_url, base_env, name)


# --- feeding the notifier without the tickets service -------------------------------------

_namespaces = itertools.count(1)


def fresh_namespace(infra: Infra) -> str:
    """A namespace of its own (queue, exchanges, Redis keys) inside the run's, for a test
    whose records must be exact: the run's queue may hold other tests' events."""
    return f"{infra.namespace}n{next(_namespaces)}"


async def publish_events(
    amqp_url: str, namespace: str, messages: Sequence[AnyEventModel | tuple[str, bytes]]
) -> None:
    """Publish contract events (or raw ``(routing_key, body)`` pairs) exactly as the tickets
    service does: persistent, message_id = event_id, routing key = event type."""
    connection = await aio_pika.connect(amqp_url, timeout=30)
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(
            Names(namespace).events_exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        for item in messages:
            if isinstance(item, tuple):
                routing_key, body, message_id = item[0], item[1], None
            else:
                routing_key = item.event_type.value
                body, message_id = item.model_dump_json().encode(), str(item.event_id)
            await exchange.publish(
                aio_pika.Message(
                    body,
                    message_id=message_id,
                    content_type="application/json",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=routing_key,
            )
    finally:
        await connection.close()


async def delete_namespace(amqp_url: str, namespace: str) -> None:
    """Remove what the notifier declared on the broker for ``namespace``."""
    names = Names(namespace)
    connection = await aio_pika.connect(amqp_url, timeout=30)
    try:
        for queue in (names.notifier_queue, names.dead_letter_queue):
            channel = await connection.channel()
            with contextlib.suppress(aio_pika.exceptions.AMQPError):
                await channel.queue_delete(queue)
        for exchange in (names.dead_letter_exchange, names.events_exchange):
            channel = await connection.channel()
            with contextlib.suppress(aio_pika.exceptions.AMQPError):
                await channel.exchange_delete(exchange)
    finally:
        await connection.close()

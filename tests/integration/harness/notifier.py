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

from dataclasses import dataclass, field
from types import TracebackType

from harness.infra import Infra, free_port
from harness.processes import ServiceProcess

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
        self.extra_consumers.append(process.start())
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
    database_url = database_url or infra.create_database("notifier")
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
    ).start()
    consumer = _consumer(f"{name}-consumer", base_env)
    try:
        if start_consumer:
            consumer.start()
    except BaseException:
        api.terminate()
        raise
    consumer_url = consumer.health_url.removesuffix("/readyz")
    return RunningNotifier(url, api, consumer, consumer_url, database_url, base_env, name)

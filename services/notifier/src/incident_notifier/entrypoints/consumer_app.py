"""The consumer process: the queue consumer, plus /healthz, /readyz and /metrics over HTTP.

Startup order: fill an empty directory from the tickets service (retrying while it is
away, so "every ADMIN" is never answered from an empty directory), then consume. /readyz
answers 503 until the consumer is consuming.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

from fastapi import FastAPI

from incident_notifier.adapters.prometheus_metrics import NotifierMetrics
from incident_notifier.config import Settings
from incident_notifier.entrypoints.api import routes_health
from incident_notifier.entrypoints.api.deps import ReadinessCheck
from incident_notifier.entrypoints.api.errors import install_error_handlers
from incident_notifier.entrypoints.consumer import EventConsumer, EventHandler
from incident_notifier.service.directory_sync import fill_directory_if_empty
from incident_notifier.service.ports import UserDirectory, UsersSource
from incident_runtime import RetentionTimer

log = logging.getLogger(__name__)


class ConsumerServices(Protocol):
    @property
    def settings(self) -> Settings: ...

    @property
    def handler(self) -> EventHandler: ...

    @property
    def directory(self) -> UserDirectory: ...

    @property
    def users_source(self) -> UsersSource: ...

    @property
    def readiness(self) -> Sequence[ReadinessCheck]: ...

    @property
    def metrics(self) -> NotifierMetrics: ...

    @property
    def retention(self) -> RetentionTimer | None: ...


async def _fill_directory(wired: ConsumerServices) -> None:
    if not wired.settings.directory_sync:
        return
    delay = 0.5
    while True:
        try:
            await fill_directory_if_empty(
                wired.directory, wired.users_source, page_size=wired.settings.directory_page_size
            )
            return
        except Exception as error:  # the tickets service or the database is not there yet
            log.warning("could not fill the directory (%s); retrying in %.1fs", error, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


def create_consumer_app(
    open_services: Callable[[], AbstractAsyncContextManager[ConsumerServices]],
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_services() as wired:
            settings = wired.settings
            consumer = EventConsumer(
                settings.amqp_url,
                settings.names,
                wired.handler,
                wired.metrics,
                prefetch=settings.prefetch,
                batch_size=settings.batch_size,
                max_attempts=settings.max_attempts,
            )

            async def consuming() -> None:
                if not consumer.consuming:
                    raise RuntimeError("not consuming the queue")

            async def run() -> None:
                await _fill_directory(wired)
                await consumer.start()

            app.state.readiness = lambda: [*wired.readiness, ("queue", consuming)]
            app.state.metrics = lambda: wired.metrics
            starting = asyncio.create_task(run())
            if wired.retention is not None:
                wired.retention.start()
            try:
                yield
            finally:
                if wired.retention is not None:
                    await wired.retention.stop()
                starting.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await starting
                await consumer.stop(settings.shutdown_grace_seconds)
                log.info("consumer stopped")

    app = FastAPI(title="incident notifier consumer", lifespan=lifespan, docs_url=None)
    install_error_handlers(app)
    app.include_router(routes_health.router)
    return app

"""Running the process roles: the API under uvicorn (relay embedded), the relay alone.

SIGTERM ends each gracefully: uvicorn stops accepting, finishes in-flight requests, then the
lifespan stops the relay; the standalone relay finishes its batch and closes the connection.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

import uvicorn

from incident_tickets.config import Settings
from incident_tickets.entrypoints.api.app import create_app
from incident_tickets.runtime import TicketsRuntime

log = logging.getLogger("incident_tickets")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str) -> None:
    logging.basicConfig(stream=sys.stderr, level=level.upper(), format=LOG_FORMAT, force=True)
    # aiormq logs every failed reconnect with a traceback; the relay says it in one line.
    logging.getLogger("aiormq").setLevel(logging.CRITICAL)
    logging.getLogger("aio_pika").setLevel(logging.CRITICAL)


def run_api(runtime: TicketsRuntime, settings: Settings) -> None:
    config = uvicorn.Config(
        create_app(runtime),
        host=settings.host,
        port=settings.port,
        log_config=None,  # keep the one-line stderr format above
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    log.info("tickets API on http://%s:%d", settings.host, settings.port)
    uvicorn.Server(config).run()


async def run_relay(runtime: TicketsRuntime) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await runtime.start()
    log.info("outbox relay running (sweep every %.2f s)", runtime.settings.relay_sweep_interval)
    try:
        await stop.wait()
    finally:
        await runtime.close()
        log.info("outbox relay stopped")

"""``python -m incident_devmode``: the whole system on one port (what ``make run`` starts)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Iterator

import uvicorn

from incident_devmode.banner import banner
from incident_devmode.bootstrap import DevModeError, DevSystem, build
from incident_devmode.config import Settings

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
PARSER_MAX_BYTES = 1024 * 1024
"""The server's own limit; API.md's 64 KiB is enforced by ``asgi_websocket`` with a 1009 close."""


def configure_logging(level: str) -> None:
    logging.basicConfig(stream=sys.stderr, level=level.upper(), format=LOG_FORMAT, force=True)
    # Request lines may carry ?token=...: neither uvicorn's access log nor httpx's URL log
    # belongs here. The broker clients' reconnect tracebacks are said in one line elsewhere.
    for name, quiet in (
        ("uvicorn.access", logging.WARNING),
        ("uvicorn.error", logging.WARNING),
        ("websockets", logging.WARNING),
        ("httpx", logging.WARNING),
        ("httpcore", logging.WARNING),
        ("aiormq", logging.ERROR),
        ("aio_pika", logging.ERROR),
        ("alembic", logging.WARNING),
    ):
        logging.getLogger(name).setLevel(quiet)


class QuietServer(uvicorn.Server):
    """uvicorn's server, stopped by our own signal handlers.

    uvicorn re-raises a captured SIGINT once it has stopped, which ends the process with a
    KeyboardInterrupt traceback; Ctrl-C here is the normal way to stop, so it exits with 0.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def request_exit(self) -> None:
        if self.should_exit:
            self.force_exit = True  # a second Ctrl-C: stop waiting for open connections
        self.should_exit = True


async def serve(system: DevSystem, started_at: float) -> bool:
    """Serve until Ctrl-C / SIGTERM; False when the server could not start."""
    settings = system.settings
    config = uvicorn.Config(
        system.app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        ws="websockets-sansio",
        ws_max_size=PARSER_MAX_BYTES,
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        timeout_graceful_shutdown=5,
    )
    server = QuietServer(config)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, server.request_exit)

    async def announce() -> None:
        while not server.started:
            if server.should_exit:
                return
            await asyncio.sleep(0.05)
        print(banner(system, time.monotonic() - started_at), file=sys.stderr, flush=True)

    announcer = asyncio.create_task(announce())
    try:
        await server.serve()
    finally:
        announcer.cancel()
    return server.started


def main() -> int:
    started_at = time.monotonic()
    settings = Settings()
    configure_logging(settings.log_level)
    log = logging.getLogger("incident_devmode")
    try:
        system = build(settings)
    except DevModeError as error:
        log.error("%s", error)
        return 2
    if not asyncio.run(serve(system, started_at)):
        log.error(
            "could not start on %s:%d (is the port in use? set DEVMODE_PORT)",
            settings.host,
            settings.port,
        )
        return 1
    log.info("stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

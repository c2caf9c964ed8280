"""``python -m incident_devmode``: the whole system on one port (what ``make run`` starts)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn

from incident_devmode.banner import banner
from incident_devmode.bootstrap import DevSystem, build
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


EPILOG = """\
Everything is configured by environment variables (flags win over them):
  DEVMODE_HOST, DEVMODE_PORT (or PORT), DEVMODE_DATA_DIR, DEVMODE_DEMO_DATA, DEVMODE_PUBLIC_URL,
  DEVMODE_LOG_LEVEL; and the production ones: AMQP_URL (RabbitMQ instead of the in-process
  broker), REDIS_URL (Redis instead of the in-process presence and routing),
  TICKETS_DATABASE_URL / NOTIFIER_DATABASE_URL (PostgreSQL instead of SQLite), TICKETS_*,
  NOTIFIER_*, GATEWAY_*, JWT_ISSUER, JWT_AUDIENCE, BOOTSTRAP_ADMIN_USERNAME/PASSWORD.

The web console is at / ; the banner printed at start lists the demo users. Ctrl-C stops.
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m incident_devmode",
        description="The tickets service, the notifier and a ws-gateway in one process on one\n"
        "port, with SQLite files and in-process stand-ins for RabbitMQ and Redis.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 8000)")
    parser.add_argument("--data-dir", type=Path, help="where the SQLite files live (./data)")
    parser.add_argument(
        "--no-demo", action="store_true", help="do not create the demo project and users"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    started_at = time.monotonic()
    args = parse_args(argv)
    overrides: dict[str, Any] = {
        name: value
        for name, value in (("host", args.host), ("port", args.port), ("data_dir", args.data_dir))
        if value is not None
    }
    if args.no_demo:
        overrides["demo_data"] = False
    settings = Settings(**overrides)
    configure_logging(settings.log_level)
    log = logging.getLogger("incident_devmode")
    system = build(settings)
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

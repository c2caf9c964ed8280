"""Run an ASGI app with uvicorn, logging one line per record to stderr.

uvicorn turns SIGTERM into a graceful shutdown: stop accepting, finish requests, then run
the app's lifespan exit (which stops the consumer and closes connections).
"""

from __future__ import annotations

import logging
import signal
import sys
from types import FrameType

import uvicorn
from fastapi import FastAPI

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Quiet libraries that log every reconnect attempt or request at INFO.
    for noisy in ("aiormq", "aio_pika", "httpx", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def serve(app: FastAPI, host: str, port: int, *, graceful_seconds: float) -> None:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=int(graceful_seconds) or 1,
    )
    # uvicorn turns SIGTERM/SIGINT into a graceful shutdown, then raises the signal again
    # against the handler that was in place before it started. Make that handler a no-op,
    # so that a completed graceful shutdown exits with status 0 rather than "killed".
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _already_handled)
    uvicorn.Server(config).run()


def _already_handled(_signum: int, _frame: FrameType | None) -> None:
    """The shutdown this signal asked for has been done."""

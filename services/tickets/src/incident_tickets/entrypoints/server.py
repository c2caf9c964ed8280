"""Serving the process roles under uvicorn: the API (relay embedded), or the relay alone
with its probes.

SIGTERM ends each gracefully: uvicorn stops accepting, finishes in-flight requests, then the
lifespan stops the relay (it finishes the batch in hand) and closes the broker connection.
"""

from __future__ import annotations

import logging
import signal
import sys
from types import FrameType

import uvicorn
from fastapi import FastAPI

from incident_tickets.config import Settings
from incident_tickets.entrypoints.api.app import create_app, create_relay_app
from incident_tickets.runtime import TicketsRuntime

log = logging.getLogger("incident_tickets")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str) -> None:
    logging.basicConfig(stream=sys.stderr, level=level.upper(), format=LOG_FORMAT, force=True)
    # aiormq logs every failed reconnect with a traceback; the relay says it in one line.
    logging.getLogger("aiormq").setLevel(logging.CRITICAL)


def run_api(runtime: TicketsRuntime, settings: Settings) -> None:
    log.info("tickets API on http://%s:%d", settings.host, settings.port)
    _serve(create_app(runtime), settings.host, settings.port, settings.forwarded_allow_ips)


def run_relay(runtime: TicketsRuntime, settings: Settings) -> None:
    log.info(
        "outbox relay (sweep every %.2f s); probes on http://%s:%d",
        settings.relay_sweep_interval,
        settings.host,
        settings.relay_port,
    )
    _serve(
        create_relay_app(runtime), settings.host, settings.relay_port, settings.forwarded_allow_ips
    )


def _serve(app: FastAPI, host: str, port: int, forwarded_allow_ips: str) -> None:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,
        log_config=None,  # keep the one-line stderr format above
        access_log=False,  # and no request lines: nothing that could carry a token
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    # uvicorn turns SIGTERM/SIGINT into a graceful shutdown, then raises the signal again
    # against the handler in place before it started: make that one a no-op, so a completed
    # graceful shutdown exits with status 0 instead of looking killed.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _shutdown_done)
    uvicorn.Server(config).run()


def _shutdown_done(_signum: int, _frame: FrameType | None) -> None:
    """The graceful shutdown this signal asked for has already been done by uvicorn."""

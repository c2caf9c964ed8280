"""``python -m incident_notifier [api|consumer|migrate]`` (api by default)."""

from __future__ import annotations

import argparse
import logging
from functools import partial

from incident_notifier import bootstrap
from incident_notifier.config import Settings
from incident_notifier.entrypoints.api import create_app
from incident_notifier.entrypoints.consumer_app import create_consumer_app
from incident_notifier.entrypoints.server import configure_logging, serve

log = logging.getLogger("incident_notifier")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m incident_notifier", description=__doc__)
    parser.add_argument("role", nargs="?", default="api", choices=["api", "consumer", "migrate"])
    role = parser.parse_args(argv).role
    settings = Settings()
    configure_logging(settings.log_level)
    if role == "migrate" or settings.migrate_on_start:
        bootstrap.prepare_database(settings)
    if role == "migrate":
        return 0
    if role == "api":
        log.info("notifier api on %s:%d", settings.host, settings.port)
        app = create_app(partial(bootstrap.api_services, settings), settings.cors_allowed_origins)
        serve(app, settings.host, settings.port, graceful_seconds=settings.shutdown_grace_seconds)
    else:
        log.info("notifier consumer (health on %s:%d)", settings.host, settings.consumer_port)
        consumer_app = create_consumer_app(partial(bootstrap.consumer_services, settings))
        serve(
            consumer_app,
            settings.host,
            settings.consumer_port,
            graceful_seconds=settings.shutdown_grace_seconds,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

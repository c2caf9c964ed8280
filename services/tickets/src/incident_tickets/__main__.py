"""``python -m incident_tickets [api|relay|migrate]`` (api by default; it embeds the relay
unless ``TICKETS_EMBEDDED_RELAY=false``)."""

from __future__ import annotations

import argparse
import asyncio

from incident_tickets import bootstrap
from incident_tickets.config import Settings
from incident_tickets.entrypoints.server import configure_logging, run_api, run_relay


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m incident_tickets", description=__doc__)
    parser.add_argument("role", nargs="?", default="api", choices=["api", "relay", "migrate"])
    role = parser.parse_args(argv).role
    settings = Settings()
    configure_logging(settings.log_level)
    if role == "migrate":
        asyncio.run(bootstrap.migrate_only(settings))
    elif role == "relay":
        run_relay(bootstrap.build(settings, standalone_relay=True), settings)
    else:
        run_api(bootstrap.build(settings), settings)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

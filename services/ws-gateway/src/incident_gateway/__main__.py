"""``python -m incident_gateway``: one gateway instance (configured by ``config.Settings``)."""

from __future__ import annotations

import asyncio
import signal

from incident_gateway.bootstrap import configure_logging, wired
from incident_gateway.config import Settings
from incident_gateway.entrypoints.server import run_instance


async def _run(settings: Settings) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with wired(settings) as wiring:
        await run_instance(
            settings, wiring.gateway, wiring.readiness, wiring.metrics.exposition, stop
        )
    return 0


def main() -> int:
    settings = Settings()
    configure_logging(settings.log_level)
    if settings.use_uvloop:
        import uvloop

        return uvloop.run(_run(settings))
    return asyncio.run(_run(settings))


if __name__ == "__main__":
    raise SystemExit(main())

"""``python -m incident_gateway``: one gateway instance (configured by ``config.Settings``)."""

from __future__ import annotations

import asyncio
import gc
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
            settings,
            wiring.gateway,
            wiring.readiness,
            wiring.metrics.exposition,
            stop,
            wiring.writes,
        )
    return 0


# Containers allocated and not yet freed before a young collection (CPython's default: 700).
# A batch of deliveries holds a few thousand (the stream's answer) until it is sent: with the
# default they are collected mid-batch, survive into the oldest generation and, a few seconds
# apart, set off full collections of every connection's objects (~0.5 s of CPU each at
# 10,000 connections). Garbage in cycles is rare here; it waits a little longer.
GC_YOUNG_THRESHOLD = 50_000


def main() -> int:
    settings = Settings()
    configure_logging(settings.log_level)
    # What start-up created lives as long as the process: no collection needs to look at it.
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    if settings.use_uvloop:
        import uvloop

        return uvloop.run(_run(settings))
    return asyncio.run(_run(settings))


if __name__ == "__main__":
    raise SystemExit(main())

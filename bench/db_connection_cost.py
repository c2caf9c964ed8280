"""What a database connection opened for a burst costs, next to a pooled one (a command).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \
    .venv/bin/python bench/db_connection_cost.py [--pairs 300]

Each round checks out two connections at once from a SQLAlchemy asyncpg engine, runs
``SELECT 1`` on each and returns both; this is what the services' pools do under a burst.
With ``pool_size=1, max_overflow=1`` (the shape the services had: overflow as large as the
pool), the second connection is an overflow one: opened for the round and closed when it
comes back, since the pool is full again. With ``pool_size=2, max_overflow=0`` both stay
pooled. Reported per round: this process's CPU (user + system) and the wall time; the
PostgreSQL backend that each opened connection starts costs the server on top. Written to
bench/results/db_connection_cost.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.suite.common import write_result


async def round_trip(engine: AsyncEngine) -> None:
    async with engine.connect() as first, engine.connect() as second:
        await first.execute(text("SELECT 1"))
        await second.execute(text("SELECT 1"))


async def measure(url: str, pool_size: int, max_overflow: int, pairs: int) -> dict[str, Any]:
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=max_overflow)
    try:
        await round_trip(engine)  # the pooled connections and the dialect's first-use setup
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(pairs):
            await round_trip(engine)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        await engine.dispose()
    return {
        "pool_size": pool_size,
        "max_overflow": max_overflow,
        "cpu_ms_per_round": round(1000 * cpu / pairs, 3),
        "wall_ms_per_round": round(1000 * wall / pairs, 3),
    }


async def run(url: str, pairs: int) -> dict[str, Any]:
    overflow = await measure(url, pool_size=1, max_overflow=1, pairs=pairs)
    pooled = await measure(url, pool_size=2, max_overflow=0, pairs=pairs)
    return {
        "benchmark": "db_connection_cost",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "rounds": pairs,
        "overflow_connection_each_round": overflow,
        "pooled": pooled,
        "extra_cpu_ms_per_opened_connection": round(
            overflow["cpu_ms_per_round"] - pooled["cpu_ms_per_round"], 3
        ),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=300, help="rounds measured per shape")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    url = "postgresql+asyncpg://" + url.split("://", 1)[1]
    result = asyncio.run(run(url, args.pairs))
    for shape in ("overflow_connection_each_round", "pooled"):
        figures = result[shape]
        print(
            f"{shape}: {figures['cpu_ms_per_round']} ms CPU,"
            f" {figures['wall_ms_per_round']} ms wall per round of two connections"
        )
    print(f"extra CPU per connection opened: {result['extra_cpu_ms_per_opened_connection']} ms")
    write_result("db_connection_cost", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

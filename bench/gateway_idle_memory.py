"""Resident memory per idle authenticated WebSocket connection of one ws-gateway process.

Starts a real gateway (real Redis; tokens signed by a test key served as a tiny JWKS), opens
N authenticated connections of N distinct users, lets them sit idle, and reads the gateway's
RSS (psutil) before and after. Prints the figures and writes bench/results/
gateway_idle_memory_<N>.json.

    REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python bench/gateway_idle_memory.py \
        [--connections 1000] [--idle 5]

Only REDIS_URL is needed (DATABASE_URL and AMQP_URL are not used).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from harness.gateway import JwksServer, TokenMint, start_gateway  # noqa: E402
from harness.infra import Infra  # noqa: E402
from websockets.asyncio.client import ClientConnection, connect  # noqa: E402

RESULTS_DIR = ROOT / "bench" / "results"


def rss_kib(pid: int) -> float:
    return float(psutil.Process(pid).memory_info().rss) / 1024


async def open_connections(url: str, tokens: list[str], batch: int = 100) -> list[ClientConnection]:
    connections: list[ClientConnection] = []
    for start in range(0, len(tokens), batch):
        opened = await asyncio.gather(
            *(
                connect(f"{url}?token={token}", open_timeout=30, ping_interval=None)
                for token in tokens[start : start + batch]
            )
        )
        connections.extend(opened)
    return connections


async def measure(
    args: argparse.Namespace, pid: int, ws_url: str, mint: TokenMint
) -> dict[str, Any]:
    tokens = [mint.access(10_000 + index, lifetime=3600) for index in range(args.connections)]
    await asyncio.sleep(1.0)
    before = rss_kib(pid)
    started = time.monotonic()
    connections = await open_connections(ws_url, tokens)
    opened_in = time.monotonic() - started
    # Every connection really is open and served: one ping round trip each.
    for connection in connections:
        await connection.send('{"type":"ping","timestamp":0}')
    for connection in connections:
        assert json.loads(await connection.recv()) == {"type": "pong", "timestamp": 0}
    await asyncio.sleep(args.idle)
    after = rss_kib(pid)
    await asyncio.gather(*(connection.close() for connection in connections))
    await asyncio.sleep(1.0)
    released = rss_kib(pid)
    per_connection = (after - before) / args.connections
    return {
        "connections": args.connections,
        "idle_seconds": args.idle,
        "rss_before_kib": round(before, 1),
        "rss_with_connections_kib": round(after, 1),
        "rss_after_close_kib": round(released, 1),
        "rss_per_idle_connection_kib": round(per_connection, 2),
        "open_seconds": round(opened_in, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--idle", type=float, default=5.0)
    parser.add_argument("--uvloop", choices=["true", "false"], default="true")
    parser.add_argument(
        "--gateway-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra gateway setting, e.g. ping_interval_seconds=20",
    )
    args = parser.parse_args()
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, args.connections * 2 + 256))
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))  # the gateway inherits it

    infra = Infra(database_url="", redis_url=redis_url, amqp_url="")
    infra.run_id = f"bench{secrets.token_hex(3)}"
    mint = TokenMint()
    with JwksServer(mint).running() as jwks:
        gateway = start_gateway(
            infra,
            jwks.url,
            "http://127.0.0.1:9",
            f"mem-{infra.run_id}",
            log_level="WARNING",
            use_uvloop=args.uvloop,
            **dict(item.split("=", 1) for item in args.gateway_env),
        )
        try:
            figures = asyncio.run(measure(args, gateway.process.pid, gateway.ws_url, mint))
        finally:
            gateway.stop()
    result = {
        "benchmark": "gateway_idle_memory",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "uvloop": args.uvloop == "true",
        "gateway_env": args.gateway_env,
        **figures,
    }
    results = RESULTS_DIR / f"gateway_idle_memory_{args.connections}.json"
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{figures['connections']} idle authenticated connections: "
        f"RSS {figures['rss_before_kib'] / 1024:.1f} MiB -> "
        f"{figures['rss_with_connections_kib'] / 1024:.1f} MiB, "
        f"{figures['rss_per_idle_connection_kib']:.2f} KiB per connection "
        f"(opened in {figures['open_seconds']} s); written to {results.relative_to(ROOT)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

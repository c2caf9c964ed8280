"""Part 3: frames per second one ws-gateway delivers to N connections, next to a bare server.

The gateway (a real process, real Redis, tokens from a test key) gets deliveries routed to it
the way the notifier routes them (XADD to its stream), as fast as it takes them: this script
keeps a bounded window of routed-but-not-received entries filled. The ceiling is a bare
``websockets`` server (its own process, uvloop) pushing one pre-encoded frame of the same size
in a loop to each of the same number of clients, uncompressed like the gateway's frames. Both are
read by the same client code in this
process, so the client side costs the same in both measurements.

    python -m bench.suite.fanout --bare-server PORT   # the bare server alone (used internally)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import secrets
import socket
import sys
import time
from typing import Any

import orjson
import psutil
import redis.asyncio as aioredis
from bench.suite.common import ROOT, load_average
from websockets.asyncio.client import ClientConnection, connect

sys.path.insert(0, str(ROOT / "tests" / "integration"))

from harness.gateway import JwksServer, TokenMint, start_gateway
from harness.infra import Infra

from incident_contracts.names import Names

SOURCE_ADDRESSES = 8  # 127.0.0.2-9: ephemeral ports to spare for 10,000 sockets and more
# XADD ARGV[2] entries for positions ARGV[1].., round robin over ARGV[3] users from ARGV[4]:
# the entries the notifier writes, with consecutive seqs per user.
ROUTE_BATCH = """
local first, count, users, base = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]),
    tonumber(ARGV[4])
for position = first, first + count - 1 do
  redis.call('XADD', KEYS[1], '*', 'u', base + position % users,
             's', math.floor(position / users) + 1, 'n', ARGV[5], 't', ARGV[6])
end
return count
"""
TEMPLATE = {
    "id": "00000000-0000-4000-8000-000000000000",
    "seq": 0,
    "notification_type": "ticket_created",
    "message": "New High priority ticket created: Homepage not loading for some users",
    "ticket": {
        "id": 123456,
        "title": "Homepage not loading for some users",
        "priority": "HIGH",
        "priority_display": "High",
        "category": "BUG",
        "status": "NEW",
        "created_by": "Bench Client 1",
        "project_name": "bench",
        "created_at": "2026-01-01T00:00:00Z",
    },
    "timestamp": "2026-01-01T00:00:00Z",
}


def raise_file_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Receivers:
    def __init__(self) -> None:
        self.frames = 0
        self.closed = 0

    async def read(self, ws: ClientConnection) -> None:
        with contextlib.suppress(Exception):
            async for _ in ws:
                self.frames += 1
        self.closed += 1


async def open_all(urls: list[str]) -> list[ClientConnection]:
    sockets: list[ClientConnection] = []
    for start in range(0, len(urls), 200):
        sockets += await asyncio.gather(
            *(
                connect(
                    url,
                    open_timeout=60,
                    ping_interval=None,
                    max_queue=None,
                    compression=None,
                    local_addr=(f"127.0.0.{2 + (start + offset) % SOURCE_ADDRESSES}", 0),
                )
                for offset, url in enumerate(urls[start : start + 200])
            )
        )
    return sockets


async def _measure(receivers: Receivers, seconds: float, pid: int) -> dict[str, Any]:
    process = psutil.Process(pid)
    me = psutil.Process()
    await asyncio.sleep(1.0)  # warm up
    frames, cpu, mine, began = receivers.frames, process.cpu_times(), me.cpu_times(), time.time()
    await asyncio.sleep(seconds)
    elapsed = time.time() - began
    after, mine_after = process.cpu_times(), me.cpu_times()
    return {
        "frames_per_second": round((receivers.frames - frames) / elapsed),
        "server_cpu_percent": round(
            (after.user + after.system - cpu.user - cpu.system) / elapsed * 100, 1
        ),
        "client_cpu_percent": round(
            (mine_after.user + mine_after.system - mine.user - mine.system) / elapsed * 100, 1
        ),
        "server_rss_mib": round(process.memory_info().rss / 2**20, 1),
        "closed_connections": receivers.closed,
        "load_average": load_average(),
    }


async def gateway_run(connections: int, seconds: float, redis_url: str) -> dict[str, Any]:
    infra = Infra(database_url="", redis_url=redis_url, amqp_url="")
    infra.run_id = f"fan{secrets.token_hex(3)}"
    mint = TokenMint()
    with JwksServer(mint).running() as jwks:
        gateway = start_gateway(
            infra,
            jwks.url,
            "http://127.0.0.1:9",
            f"fan-{infra.run_id}",
            log_level="WARNING",
            # The service's defaults, not the harness's quick ones for tests (its sweep of every
            # connection five times a second costs ~5% of the gateway at 10,000 connections).
            sweep_interval_seconds=0.5,
            ping_interval_seconds=20,
            ping_timeout_seconds=20,
        )
        client = aioredis.Redis.from_url(redis_url)
        try:
            users = list(range(50_000, 50_000 + connections))
            sockets = await open_all([gateway.ws(mint.access(u, lifetime=3600)) for u in users])
            receivers = Receivers()
            readers = [asyncio.create_task(receivers.read(ws)) for ws in sockets]
            stream = Names(gateway.namespace).gateway_stream(gateway.instance_id)
            stop = asyncio.Event()

            frame = orjson.dumps(TEMPLATE).decode()
            route_batch = client.register_script(ROUTE_BATCH)

            async def route() -> None:
                # Redis builds the entries itself (one script call per batch), so routing costs
                # this process, which also holds every client, next to nothing.
                window, batch, routed = 20_000, 2_000, 0
                while not stop.is_set():
                    if routed - receivers.frames >= window:
                        await asyncio.sleep(0.001)
                        continue
                    now = int(time.time() * 1000)
                    await route_batch(
                        keys=[stream], args=[routed, batch, connections, users[0], frame, now]
                    )
                    routed += batch

            router = asyncio.create_task(route())
            figures = await _measure(receivers, seconds, gateway.process.pid)
            stop.set()
            await router
            for reader in readers:
                reader.cancel()
            await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
            await asyncio.gather(*readers, return_exceptions=True)
            await client.delete(stream)
        finally:
            await client.aclose()
            gateway.stop()
    return figures


async def bare_run(connections: int, seconds: float) -> dict[str, Any]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.suite.fanout", "--bare-server", str(port), cwd=ROOT
    )
    try:
        for _ in range(100):
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            await asyncio.sleep(0.1)
        sockets = await open_all([f"ws://127.0.0.1:{port}/"] * connections)
        receivers = Receivers()
        readers = [asyncio.create_task(receivers.read(ws)) for ws in sockets]
        await asyncio.gather(*(ws.send("go") for ws in sockets))
        figures = await _measure(receivers, seconds, server.pid)
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        for ws in sockets:
            ws.transport.abort()
    finally:
        server.terminate()
        await asyncio.wait_for(server.wait(), timeout=30)
    return figures


def serve_bare(port: int) -> None:
    import uvloop
    from websockets.asyncio.server import ServerConnection, serve

    frame = orjson.dumps(TEMPLATE)

    async def push(ws: ServerConnection) -> None:
        with contextlib.suppress(Exception):
            await ws.recv()
            while True:
                await ws.send(frame, text=True)

    async def main() -> None:
        # No per-message deflate, as in the gateway: websockets negotiates it by default, and
        # with context takeover the same frame sent again compresses to a few bytes, which
        # would make the ceiling a different (and much lighter) workload.
        async with serve(
            push, "127.0.0.1", port, ping_interval=None, backlog=4096, compression=None
        ):
            await asyncio.Future()

    raise_file_limit()
    uvloop.run(main())


async def run(counts: list[int], seconds: float, repeats: int = 3) -> dict[str, Any]:
    """Gateway and bare server in turn, ``repeats`` times each: the medians are the figures
    (one measurement on a machine shared with other work can be off by a factor of two)."""
    raise_file_limit()
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    results = []
    for connections in counts:
        gateways, bares = [], []
        for _ in range(repeats):
            gateways.append(await gateway_run(connections, seconds, redis_url))
            bares.append(await bare_run(connections, seconds))
        gateway = _median(gateways)
        bare = _median(bares)
        share = gateway["frames_per_second"] / max(bare["frames_per_second"], 1)
        results.append(
            {
                "connections": connections,
                "gateway": gateway,
                "bare_websockets": bare,
                "gateway_share_of_bare": round(share, 3),
                "gateway_runs": gateways,
                "bare_websockets_runs": bares,
            }
        )
        print(
            f"  {connections} connections: gateway {gateway['frames_per_second']} frames/s,"
            f" bare websockets {bare['frames_per_second']} frames/s ({share:.0%}), medians of"
            f" {repeats}: gateway {[g['frames_per_second'] for g in gateways]},"
            f" bare {[b['frames_per_second'] for b in bares]}",
            flush=True,
        )
    return {
        "seconds": seconds,
        "repeats": repeats,
        "frame_bytes": len(orjson.dumps(TEMPLATE)),
        "runs": results,
    }


def _median(measurements: list[dict[str, Any]]) -> dict[str, Any]:
    """The measurement with the median frames/s (its CPU and load average with it)."""
    ordered = sorted(measurements, key=lambda m: m["frames_per_second"])
    return ordered[len(ordered) // 2]


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--bare-server":
        serve_bare(int(sys.argv[2]))

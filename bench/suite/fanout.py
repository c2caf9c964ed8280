"""Part 3: frames per second one ws-gateway delivers to N connections, next to a bare server.

The gateway (a real process, real Redis, tokens from a test key) gets deliveries routed to it
the way the notifier routes them (XADD to its stream), as fast as it takes them: this script
keeps a bounded window of routed-but-not-received entries filled (``WINDOW``: ten frames per
connection at 10,000, so that the gateway always has a backlog to take). The ceiling is a bare
``websockets`` server (its own process, uvloop) pushing one pre-encoded frame of the same size
in a loop to each of the same number of clients, uncompressed like the gateway's frames. Both are
read by the same clients in this process (picows: compiled frame parsing, so that they take
as little of the machine as possible from the server measured).

    python -m bench.suite.fanout --bare-server PORT   # the bare server alone (used internally)
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import os
import resource
import secrets
import socket
import sys
import time
from typing import Any

import orjson
import picows
import psutil
import redis.asyncio as aioredis
from bench.suite.common import ROOT, load_average

sys.path.insert(0, str(ROOT / "tests" / "integration"))

from harness.gateway import JwksServer, TokenMint, start_gateway
from harness.infra import Infra

from incident_contracts.names import Names

WINDOW = 100_000
"""Entries routed and not yet received, at most."""
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


class Clients:
    """WebSocket clients on picows, which parses frames in compiled code and hands each to a
    plain callback (no task, queue or future per frame): the clients share the machine with
    the server measured, so they must cost it as little as possible. picows answers the
    gateway's pings by itself."""

    def __init__(self) -> None:
        self.frames = 0
        self.closed = 0
        self.transports: list[picows.WSTransport] = []

    async def open_all(self, urls: list[str]) -> None:
        for start in range(0, len(urls), 200):
            chunk = urls[start : start + 200]
            await asyncio.gather(*(self._open(start + n, url) for n, url in enumerate(chunk)))

    async def _open(self, number: int, url: str) -> None:
        source = f"127.0.0.{2 + number % SOURCE_ADDRESSES}"

        def bound(_url: picows.WSParsedURL) -> socket.socket:
            sock = socket.socket()
            sock.setblocking(False)
            sock.bind((source, 0))
            return sock

        transport, _ = await picows.ws_connect(
            lambda: _Counter(self), url, socket_factory=bound, websocket_handshake_timeout=60
        )
        self.transports.append(transport)

    async def close(self) -> None:
        for transport in self.transports:
            transport.send_close(picows.WSCloseCode.OK)
            transport.disconnect()
        await asyncio.gather(*(t.wait_disconnected() for t in self.transports))


class _Counter(picows.WSListener):
    def __init__(self, clients: Clients) -> None:
        super().__init__()
        self._clients = clients

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        if frame.msg_type == picows.WSMsgType.TEXT:
            self._clients.frames += 1

    def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
        self._clients.closed += 1


async def _measure(receivers: Clients, seconds: float, pid: int) -> dict[str, Any]:
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
            clients = Clients()
            await clients.open_all([gateway.ws(mint.access(u, lifetime=3600)) for u in users])
            stream = Names(gateway.namespace).gateway_stream(gateway.instance_id)
            stop = asyncio.Event()

            frame = orjson.dumps(TEMPLATE).decode()
            route_batch = client.register_script(ROUTE_BATCH)

            async def route() -> None:
                # Redis builds the entries itself (one script call per batch), so routing costs
                # this process, which also holds every client, next to nothing.
                batch, routed = 2_000, 0
                while not stop.is_set():
                    if routed - clients.frames >= WINDOW:
                        await asyncio.sleep(0.001)
                        continue
                    now = int(time.time() * 1000)
                    await route_batch(
                        keys=[stream], args=[routed, batch, connections, users[0], frame, now]
                    )
                    routed += batch

            router = asyncio.create_task(route())
            figures = await _measure(clients, seconds, gateway.process.pid)
            stop.set()
            await router
            await clients.close()
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
        clients = Clients()
        await clients.open_all([f"ws://127.0.0.1:{port}/"] * connections)
        for transport in clients.transports:
            transport.send(picows.WSMsgType.TEXT, b"go")
        figures = await _measure(clients, seconds, server.pid)
        await clients.close()
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
        "window": WINDOW,
        "clients": f"picows {importlib.metadata.version('picows')}",
        "runs": results,
    }


def _median(measurements: list[dict[str, Any]]) -> dict[str, Any]:
    """The measurement with the median frames/s (its CPU and load average with it)."""
    ordered = sorted(measurements, key=lambda m: m["frames_per_second"])
    return ordered[len(ordered) // 2]


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--bare-server":
        serve_bare(int(sys.argv[2]))

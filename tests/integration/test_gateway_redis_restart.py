"""A Redis restart (it forgets presence and streams) costs the gateway nothing lasting.

The gateway runs against a redis-server of this test's own, killed and started again, so
other tests sharing the machine's Redis are not disturbed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis
from harness.gateway import (
    JwksServer,
    PrivateRedis,
    TokenMint,
    presence_of,
    route_delivery,
    start_gateway,
)
from harness.infra import Infra
from harness.waiting import wait_until
from websockets.sync.client import connect

USER = 7


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    with PrivateRedis().running() as server:
        yield server


def test_presence_comes_back_and_deliveries_flow_after_a_redis_restart(
    infra: Infra, private_redis: PrivateRedis
) -> None:
    mint = TokenMint()
    with JwksServer(mint).running() as jwks:
        gateway = start_gateway(
            infra,
            jwks.url,
            "http://127.0.0.1:9",
            f"rr-{infra.run_id}",
            REDIS_URL=private_redis.url,
            heartbeat_interval_seconds=600,  # only the restart detection may bring it back
        )
        try:
            with connect(gateway.ws(mint.access(USER))) as ws:
                client = redis.Redis.from_url(private_redis.url)
                assert list(presence_of(client, gateway.namespace, USER)) == [gateway.instance_id]
                route_delivery(client, gateway.namespace, gateway.instance_id, USER, 1, '{"seq":1}')
                assert ws.recv(timeout=10) == '{"seq":1}'
                client.close()

                private_redis.restart()
                client = redis.Redis.from_url(private_redis.url)
                wait_until(
                    lambda: (
                        list(presence_of(client, gateway.namespace, USER)) == [gateway.instance_id]
                    ),
                    "presence registered again",
                )
                route_delivery(client, gateway.namespace, gateway.instance_id, USER, 2, '{"seq":2}')
                assert ws.recv(timeout=10) == '{"seq":2}'
                ws.send('{"type":"ping","timestamp":1}')
                assert json.loads(ws.recv(timeout=10)) == {"type": "pong", "timestamp": 1}
                client.close()
        finally:
            gateway.stop()

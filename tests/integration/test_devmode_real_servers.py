"""``AMQP_URL``, ``REDIS_URL`` and ``DATABASE_URL`` switch the dev mode to the real servers:
the same single process, now publishing through RabbitMQ, routing through Redis and storing
both services' tables in ONE PostgreSQL database (each keeps its own migration version table),
and a lifecycle still arrives over its WebSocket."""

from __future__ import annotations

import json
from pathlib import Path

import websocket
from harness.devmode import start_devmode
from harness.infra import Infra


def test_the_dev_mode_runs_on_the_real_servers(infra: Infra, tmp_path: Path) -> None:
    devmode = start_devmode(
        tmp_path,
        name="devmode-real-servers",
        AMQP_URL=infra.amqp_url,
        REDIS_URL=infra.redis_url,
        DATABASE_URL=infra.create_database("devmode"),
        INCIDENT_NAMESPACE=f"{infra.namespace}-devmode",
        DEVMODE_INSTANCE_ID=f"{infra.namespace}-devmode-gw",
    )
    try:
        admin = devmode.login_as("admin")
        carol = devmode.login_as("carol")
        sockets = {
            name: websocket.create_connection(devmode.ws_url(token=session.access), timeout=20)
            for name, session in (("admin", admin), ("carol", carol))
        }
        try:
            ticket = carol.create_ticket(carol.call("GET", "/api/projects/")[0]["id"])
            admin.open(ticket["id"])
            to_admin = json.loads(sockets["admin"].recv())
            to_carol = json.loads(sockets["carol"].recv())
        finally:
            for connection in sockets.values():
                connection.close()
        assert (to_admin["notification_type"], to_admin["seq"]) == ("ticket_created", 1)
        assert to_admin["ticket"]["id"] == ticket["id"]
        assert (to_carol["notification_type"], to_carol["seq"]) == ("ticket_opened", 1)
        log = devmode.log()
        assert "Broker           amqp://" in log
        assert "Presence/routing redis://" in log
        assert "Tickets DB       postgresql+asyncpg://" in log
        assert "Notifier DB      postgresql+asyncpg://" in log
        assert "guest:guest" not in log  # credentials never printed
    finally:
        devmode.stop()

"""Two tickets processes on one database: their relays never publish a row twice."""

from __future__ import annotations

import asyncio
import re
import secrets
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
from harness.api import TicketsApi
from harness.infra import Infra
from harness.tickets import EventTap, start_replica, start_tickets

USERS = 40


def published_total(url: str) -> float:
    metrics = httpx.get(f"{url}/metrics", timeout=5).text
    return sum(
        float(match)
        for match in re.findall(r"^tickets_outbox_published_total\{[^}]*\} (\S+)$", metrics, re.M)
    )


async def outbox_rows(database_url: str) -> list[tuple[str, bool]]:
    dsn = urlunsplit(urlsplit(database_url)._replace(scheme="postgresql"))
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch("SELECT event_id, sent_at FROM outbox ORDER BY id")
    finally:
        await connection.close()
    return [(row["event_id"], row["sent_at"] is not None) for row in rows]


async def test_two_relays_on_one_database_publish_each_row_exactly_once(infra: Infra) -> None:
    namespace = f"{infra.namespace}-tk{secrets.token_hex(3)}"
    # Sweeping every 20 ms, both relays keep competing for the same rows.
    fast = {"INCIDENT_NAMESPACE": namespace, "TICKETS_RELAY_SWEEP_INTERVAL": "0.02"}
    async with EventTap(infra.amqp_url, namespace) as tap:
        primary = start_tickets(infra, **fast)
        try:
            replica = start_replica(primary, infra, **fast)
            urls = [primary.url, replica.url]
            admins = [
                TicketsApi(url).login_as(primary.admin_username, primary.admin_password)
                for url in urls
            ]

            def create(number: int) -> int:
                user = admins[number % 2].create_user("CLIENT")
                created: int = user["id"]
                return created

            with ThreadPoolExecutor(8) as pool:
                created_ids = await asyncio.get_running_loop().run_in_executor(
                    None, lambda: sorted(pool.map(create, range(USERS)))
                )

            events = await tap.take(1 + USERS, within=60)  # the bootstrap admin first
            ids = [e.message_id for e in events]
            assert len(set(ids)) == len(ids) == 1 + USERS
            assert sorted(e.body["payload"]["id"] for e in events[1:]) == created_ids

            rows = await outbox_rows(primary.database_url)
            assert all(sent for _, sent in rows)
            # The order on the queue is the outbox's id order, across both relays.
            assert ids == [event_id for event_id, _ in rows]
            assert sum(published_total(url) for url in urls) == 1 + USERS

            sentinel = admins[1].create_user("DEVELOPER")
            (after,) = await tap.take(1)
            assert after.body["payload"]["id"] == sentinel["id"]
        finally:
            primary.stop()

"""Process topologies on one database: two API replicas whose relays compete for the same
rows (the lease off), two whose relays share the lease (one publishes, the other takes over
when it dies), and an API whose events are published by a standalone relay process."""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
from harness.api import ApiError, TicketsApi
from harness.infra import Infra
from harness.tickets import (
    EventTap,
    published_total,
    start_relay,
    start_replica,
    start_tickets,
)
from harness.waiting import eventually

USERS = 30
LIFECYCLES = 6


def holds_lease(url: str) -> bool:
    metrics = httpx.get(f"{url}/metrics", timeout=5).text
    return re.search(r"^tickets_outbox_relay_lease 1\.0$", metrics, re.M) is not None


async def sql(database_url: str, statement: str, *args: object) -> list[asyncpg.Record]:
    """One statement on the service's database, behind the service's back."""
    dsn = urlunsplit(urlsplit(database_url)._replace(scheme="postgresql"))
    connection = await asyncpg.connect(dsn)
    try:
        rows: list[asyncpg.Record] = await connection.fetch(statement, *args)
    finally:
        await connection.close()
    return rows


async def outbox_rows(database_url: str) -> list[tuple[str, bool]]:
    rows = await sql(database_url, "SELECT event_id, sent_at FROM outbox ORDER BY id")
    return [(row["event_id"], row["sent_at"] is not None) for row in rows]


async def test_two_relays_on_one_database_publish_each_row_exactly_once(infra: Infra) -> None:
    namespace = f"{infra.namespace}-tk{secrets.token_hex(3)}"
    # Without the lease, and sweeping every 20 ms, both relays keep competing for the rows:
    # the outbox store alone keeps each row once and in order.
    fast = {
        "INCIDENT_NAMESPACE": namespace,
        "TICKETS_RELAY_SWEEP_INTERVAL": "0.02",
        "TICKETS_RELAY_LEASE": "false",
    }
    async with EventTap(infra.amqp_url, namespace) as tap:
        primary = start_tickets(infra, **fast)
        try:
            replica = start_replica(primary, infra, **fast)
            urls = [primary.url, replica.url]
            admins = [
                TicketsApi(url).login_as(primary.admin_username, primary.admin_password)
                for url in urls
            ]
            client_user = admins[0].create_user("CLIENT")
            dev_user = admins[0].create_user("DEVELOPER")
            clients = [admin.login_as(client_user["username"]) for admin in admins]
            devs = [admin.login_as(dev_user["username"]) for admin in admins]
            project = admins[0].create_project()

            def create_user(number: int) -> None:
                admins[number % 2].create_user("CLIENT")

            def lifecycle(number: int) -> None:
                # Each step through the other process than the step before.
                ticket = clients[number % 2].create_ticket(project["id"], title=f"t{number}")
                admins[(number + 1) % 2].open(ticket["id"])
                admins[number % 2].assign(ticket["id"], [dev_user["id"]])
                devs[(number + 1) % 2].start(ticket["id"])
                devs[number % 2].finish(ticket["id"])
                clients[(number + 1) % 2].approve(ticket["id"])

            def drive() -> None:
                with ThreadPoolExecutor(8) as pool:
                    work = [pool.submit(create_user, n) for n in range(USERS)]
                    work += [pool.submit(lifecycle, n) for n in range(LIFECYCLES)]
                    for done in work:
                        done.result()

            await asyncio.get_running_loop().run_in_executor(None, drive)
            expected = 1 + 2 + USERS + 6 * LIFECYCLES  # with the bootstrap admin's event
            events = await tap.take(expected, within=90)

            ids = [e.message_id or "" for e in events]
            assert len(set(ids)) == len(ids) == expected
            rows = await outbox_rows(primary.database_url)
            assert all(sent for _, sent in rows)
            assert sorted(ids) == sorted(event_id for event_id, _ in rows)
            assert sum(published_total(url) for url in urls) == expected
            # Each ticket's events arrive in its lifecycle's order, whichever relay sent them.
            per_ticket: dict[int, list[str]] = {}
            for event in events:
                if event.routing_key.startswith("ticket."):
                    ticket_id = event.body["payload"]["ticket"]["id"]
                    per_ticket.setdefault(ticket_id, []).append(event.routing_key)
            assert len(per_ticket) == LIFECYCLES
            for routing_keys in per_ticket.values():
                assert routing_keys == [
                    "ticket.created",
                    "ticket.opened",
                    "ticket.assigned",
                    "ticket.work_started",
                    "ticket.work_finished",
                    "ticket.approved",
                ]

            sentinel = admins[1].create_user("DEVELOPER")
            (after,) = await tap.take(1)
            assert after.body["payload"]["id"] == sentinel["id"]
        finally:
            primary.stop()


async def test_one_replica_publishes_and_the_other_takes_over_when_it_is_killed(
    infra: Infra,
) -> None:
    namespace = f"{infra.namespace}-tk{secrets.token_hex(3)}"
    env = {"INCIDENT_NAMESPACE": namespace, "TICKETS_RELAY_SWEEP_INTERVAL": "0.2"}
    async with EventTap(infra.amqp_url, namespace) as tap:
        primary = start_tickets(infra, **env)
        try:
            (bootstrap,) = await tap.take(1)
            assert bootstrap.body["payload"]["username"] == primary.admin_username
            await eventually(lambda: holds_lease(primary.url), True)
            replica = start_replica(primary, infra, **env)
            admins = [
                TicketsApi(url).login_as(primary.admin_username, primary.admin_password)
                for url in (primary.url, replica.url)
            ]
            created = [admins[n % 2].create_user("CLIENT")["id"] for n in range(6)]
            events = await tap.take(6)
            assert [e.body["payload"]["id"] for e in events] == created
            # The replica's commits went out through the holder: woken by NOTIFY, not a sweep.
            assert published_total(primary.url) == 7
            assert published_total(replica.url) == 0
            assert not holds_lease(replica.url)

            primary.process.kill()  # SIGKILL: its session ends, and with it the lock
            after = admins[1].create_user("DEVELOPER")
            (event,) = await tap.take(1, within=15)
            assert event.body["payload"]["id"] == after["id"]
            assert holds_lease(replica.url)
            assert published_total(replica.url) == 1
            assert all(sent for _, sent in await outbox_rows(primary.database_url))
        finally:
            primary.stop()


async def test_a_standalone_relay_is_woken_by_the_api_processes_commits(infra: Infra) -> None:
    namespace = f"{infra.namespace}-tk{secrets.token_hex(3)}"
    async with EventTap(infra.amqp_url, namespace) as tap:
        api = start_tickets(infra, INCIDENT_NAMESPACE=namespace, TICKETS_EMBEDDED_RELAY="false")
        try:
            # A sweep every 10 minutes: within this test only a NOTIFY at commit can wake it.
            relay = start_relay(api, TICKETS_RELAY_SWEEP_INTERVAL="600")
            (bootstrap,) = await tap.take(1)  # committed before the relay started listening
            assert bootstrap.body["payload"]["username"] == api.admin_username

            admin = TicketsApi(api.url).login_as(api.admin_username, api.admin_password)
            client = admin.user_session("CLIENT")
            ticket = client.create_ticket(admin.create_project()["id"])
            admin.open(ticket["id"])
            events = await tap.take(3)
            assert [e.routing_key for e in events] == [
                "user.created",
                "ticket.created",
                "ticket.opened",
            ]
            assert events[2].body["payload"]["ticket"]["id"] == ticket["id"]

            relay_url = relay.health_url.removesuffix("/healthz")
            async with httpx.AsyncClient() as http:
                ready = (await http.get(f"{relay_url}/readyz", timeout=5)).json()
            assert ready["checks"] == {"database": "ok", "broker": "ok"}
            assert published_total(relay_url) == 4
            assert published_total(api.url) == 0  # the API process published nothing itself
        finally:
            api.stop()


async def test_a_change_to_a_user_reaches_the_replica_that_keeps_it(infra: Infra) -> None:
    namespace = f"{infra.namespace}-tk{secrets.token_hex(3)}"
    primary = start_tickets(infra, INCIDENT_NAMESPACE=namespace)
    try:
        # Kept for ten minutes: within this test only a notification can make it read again.
        replica = start_replica(
            primary, infra, INCIDENT_NAMESPACE=namespace, TICKETS_USER_CACHE_SECONDS="600"
        )
        admin = TicketsApi(primary.url).login_as(primary.admin_username, primary.admin_password)
        user = admin.create_user("DEVELOPER", full_name="Dana Developer")
        on_replica = TicketsApi(replica.url).login_as(user["username"])
        assert on_replica.me()["full_name"] == "Dana Developer"

        # Behind every process's back (no notification): the replica answers from its copy.
        await sql(
            primary.database_url, "UPDATE users SET full_name = 'Quiet' WHERE id = $1", user["id"]
        )
        assert on_replica.me()["full_name"] == "Dana Developer"

        admin.update_user(user["id"], role="ADMIN")  # through the other process
        await eventually(lambda: on_replica.me()["role"], "ADMIN")
        assert on_replica.me()["full_name"] == "Quiet"  # read again, whole

        admin.update_user(user["id"], is_active=False)
        await eventually(lambda: status_of(on_replica.me), 401)
    finally:
        primary.stop()


def status_of(call: Callable[[], object]) -> int:
    try:
        call()
    except ApiError as error:
        return error.status
    return 200

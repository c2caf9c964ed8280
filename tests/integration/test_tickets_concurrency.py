"""Concurrent actions on one ticket through the real process on PostgreSQL: the ticket row is
locked for the action, so no update is lost and no transition happens twice."""

from __future__ import annotations

import asyncio
import secrets
from concurrent.futures import ThreadPoolExecutor

from harness.api import ApiError, TicketsApi
from harness.infra import Infra
from harness.tickets import EventTap, start_replica, start_tickets

RACERS = 8


async def test_racing_actions_apply_once_and_lose_nothing(infra: Infra) -> None:
    namespace = f"{infra.namespace}-tk{secrets.token_hex(3)}"
    async with EventTap(infra.amqp_url, namespace, binding="ticket.#") as tap:
        primary = start_tickets(infra, INCIDENT_NAMESPACE=namespace)
        try:
            replica = start_replica(primary, infra, INCIDENT_NAMESPACE=namespace)
            admins = [
                TicketsApi(url).login_as(primary.admin_username, primary.admin_password)
                for url in (primary.url, replica.url)
            ]
            client = admins[0].user_session("CLIENT")
            developers = [admins[0].create_user("DEVELOPER") for _ in range(RACERS)]
            ticket = client.create_ticket(admins[0].create_project()["id"])

            def open_it(number: int) -> tuple[int, str]:
                try:
                    admins[number % 2].open(ticket["id"])
                except ApiError as refusal:
                    return refusal.status, refusal.body["code"]
                return 200, "ok"

            def assign_one(number: int) -> None:
                admins[number % 2].assign(ticket["id"], [developers[number]["id"]])

            def race() -> list[tuple[int, str]]:
                with ThreadPoolExecutor(RACERS) as pool:
                    statuses = list(pool.map(open_it, range(RACERS)))
                    list(pool.map(assign_one, range(RACERS)))
                return statuses

            statuses = await asyncio.get_running_loop().run_in_executor(None, race)
            assert sorted(statuses) == [(200, "ok")] + [(409, "invalid_transition")] * (RACERS - 1)

            final = admins[1].get_ticket(ticket["id"])
            assert sorted(final["assigned_to"]) == sorted(d["id"] for d in developers)
            events = await tap.take(2 + RACERS)
            assert [e.routing_key for e in events[:2]] == ["ticket.created", "ticket.opened"]
            newly = [e.body["payload"]["newly_assigned_ids"] for e in events[2:]]
            assert sorted(i for ids in newly for i in ids) == sorted(d["id"] for d in developers)
            assert all(len(ids) == 1 for ids in newly)
            # Each assignment saw the ones committed before it: the lists only grow.
            sizes = [len(e.body["payload"]["ticket"]["assignee_ids"]) for e in events[2:]]
            assert sizes == list(range(1, RACERS + 1))
        finally:
            primary.stop()

"""The tickets service's outbox against the real PostgreSQL and RabbitMQ, through the real process.

Each test binds its own queue (``EventTap``) to an events exchange of its own namespace before
the service starts, so it sees every event the service publishes and nothing else.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from harness.api import ApiError, TicketsApi
from harness.infra import Infra, rabbitmq_stopped
from harness.tickets import EventTap, RunningTickets, TappedEvent, start_tickets


def own_namespace(infra: Infra) -> str:
    return f"{infra.namespace}-tk{secrets.token_hex(3)}"


@pytest.fixture
def namespace(infra: Infra) -> str:
    return own_namespace(infra)


@pytest.fixture
def service(infra: Infra, namespace: str) -> Iterator[list[RunningTickets]]:
    """The instances a test started; each test binds its tap first, then calls ``start``."""
    running: list[RunningTickets] = []
    yield running
    for instance in running:
        instance.stop()


def start(
    infra: Infra, namespace: str, running: list[RunningTickets], **env: str
) -> RunningTickets:
    instance = start_tickets(infra, INCIDENT_NAMESPACE=namespace, **env)
    running.append(instance)
    return instance


def payload(event: TappedEvent) -> dict[str, Any]:
    result: dict[str, Any] = event.body["payload"]
    return result


def ticket_of(event: TappedEvent) -> dict[str, Any]:
    result: dict[str, Any] = event.body["payload"]["ticket"]
    return result


async def test_every_action_publishes_exactly_one_event_in_order(
    infra: Infra, namespace: str, service: list[RunningTickets]
) -> None:
    async with EventTap(infra.amqp_url, namespace) as tap:
        tickets = start(infra, namespace, service)
        (bootstrap,) = await tap.take(1)
        assert bootstrap.routing_key == "user.created"
        assert payload(bootstrap)["username"] == tickets.admin_username
        assert payload(bootstrap)["role"] == "ADMIN"
        assert bootstrap.body["actor_id"] is None

        admin = TicketsApi(tickets.url).login_as(tickets.admin_username, tickets.admin_password)
        admin_id = admin.user["id"] if admin.user else None
        alice = admin.create_user("DEVELOPER", full_name="Alice Developer")
        bob = admin.create_user("DEVELOPER", full_name="Bob Support")
        john = admin.create_user("CLIENT", full_name="John Client")
        project = admin.create_project("Website Redesign")  # projects emit no event
        client = admin.login_as(john["username"])
        as_alice = admin.login_as(alice["username"])

        ticket = client.create_ticket(project["id"], title="Homepage not loading")
        tid = ticket["id"]
        admin.open(tid)
        admin.assign(tid, [alice["id"]], "2025-12-24T18:00:00Z")
        admin.assign(tid, [alice["id"], bob["id"]])
        as_alice.start(tid)
        as_alice.finish(tid)
        client.reject(tid, "Issue still exists on mobile")
        as_alice.finish(tid)
        client.approve(tid)
        admin.update_user(bob["id"], is_active=False)

        events = await tap.take(13)
        assert [e.routing_key for e in events] == [
            "user.created",
            "user.created",
            "user.created",
            "ticket.created",
            "ticket.opened",
            "ticket.assigned",
            "ticket.assigned",
            "ticket.work_started",
            "ticket.work_finished",
            "ticket.rejected",
            "ticket.work_finished",
            "ticket.approved",
            "user.updated",
        ]
        for event in [bootstrap, *events]:
            assert event.body["event_type"] == event.routing_key
            assert event.message_id == event.body["event_id"]
            assert event.content_type == "application/json"
            assert event.persistent
        assert len({e.message_id for e in [bootstrap, *events]}) == 14

        created_users = [payload(e) for e in events[:3]]
        assert [(u["id"], u["full_name"], u["role"]) for u in created_users] == [
            (alice["id"], "Alice Developer", "DEVELOPER"),
            (bob["id"], "Bob Support", "DEVELOPER"),
            (john["id"], "John Client", "CLIENT"),
        ]
        assert all(e.body["actor_id"] == admin_id for e in events[:3])

        created, opened, assigned1, assigned2, started = events[3:8]
        finished, rejected, finished2, approved, updated = events[8:]
        assert created.body["actor_id"] == john["id"]
        assert ticket_of(created) == {
            **ticket_of(created),
            "id": tid,
            "title": "Homepage not loading",
            "status": "NEW",
            "priority": "HIGH",
            "category": "BUG",
            "project_id": project["id"],
            "project_name": "Website Redesign",
            "created_by_id": john["id"],
            "created_by_name": "John Client",
            "assignee_ids": [],
        }
        assert ticket_of(opened)["status"] == "OPENED"
        assert ticket_of(opened)["opened_at"] is not None
        assert opened.body["actor_id"] == admin_id
        assert payload(assigned1)["newly_assigned_ids"] == [alice["id"]]
        assert ticket_of(assigned1)["assigned_to_names"] == ["Alice Developer"]
        assert ticket_of(assigned1)["resolution_due_at"] == "2025-12-24T18:00:00Z"
        assert payload(assigned2)["newly_assigned_ids"] == [bob["id"]]
        assert ticket_of(assigned2)["assignee_ids"] == [alice["id"], bob["id"]]
        assert ticket_of(assigned2)["assigned_to_names"] == ["Alice Developer", "Bob Support"]
        assert (ticket_of(started)["status"], started.body["actor_id"]) == (
            "IN_PROGRESS",
            alice["id"],
        )
        assert ticket_of(finished)["status"] == "RESOLVED"
        assert payload(rejected)["comment"] == "Issue still exists on mobile"
        assert ticket_of(rejected)["status"] == "IN_PROGRESS"
        assert ticket_of(rejected)["rejection_comment"] == "Issue still exists on mobile"
        assert ticket_of(finished2)["status"] == "RESOLVED"
        assert ticket_of(approved)["status"] == "CLOSED"
        assert ticket_of(approved)["closed_at"] is not None
        assert approved.body["actor_id"] == john["id"]
        assert payload(updated) == {**payload(updated), "id": bob["id"], "is_active": False}

        # Nothing else was published: the next event is the one of the next action.
        sentinel = admin.create_user("CLIENT")
        (after,) = await tap.take(1)
        assert (after.routing_key, payload(after)["id"]) == ("user.created", sentinel["id"])


async def test_refused_actions_publish_nothing(
    infra: Infra, namespace: str, service: list[RunningTickets]
) -> None:
    async with EventTap(infra.amqp_url, namespace) as tap:
        tickets = start(infra, namespace, service)
        admin = TicketsApi(tickets.url).login_as(tickets.admin_username, tickets.admin_password)
        client = admin.user_session("CLIENT")
        developer = admin.user_session("DEVELOPER")
        project = admin.create_project()
        ticket = client.create_ticket(project["id"])
        await tap.take(4)  # bootstrap admin, two users, the ticket

        path = f"/api/tickets/{ticket['id']}"
        taken = client.user["username"] if client.user else ""
        new_user = {"username": taken, "password": "p", "full_name": "Again", "role": "CLIENT"}
        bad_ticket = {"title": "x", "priority": "LOW", "category": "BUG", "project_id": 999}
        refused: list[tuple[TicketsApi, str, str, Any, int, str]] = [
            (admin, "POST", f"{path}/start/", None, 403, "forbidden"),
            (client, "POST", f"{path}/approve/", None, 409, "invalid_transition"),
            (admin, "POST", f"{path}/assign/", {"developer_ids": [1]}, 409, "invalid_transition"),
            (developer, "POST", f"{path}/open/", None, 403, "forbidden"),
            (client, "POST", "/api/tickets/", bad_ticket, 400, "invalid_project"),
            (admin, "POST", "/api/users/", new_user, 409, "username_taken"),
            (admin, "PATCH", "/api/users/99999/", {"is_active": False}, 404, "not_found"),
        ]
        for caller, method, where, body, status, code in refused:
            with pytest.raises(ApiError) as refusal:
                caller.call(method, where, json=body)
            assert (refusal.value.status, refusal.value.body["code"]) == (status, code), where

        admin.open(ticket["id"])
        with pytest.raises(ApiError) as refusal:
            admin.assign(ticket["id"], [client.user["id"] if client.user else 0])
        assert refusal.value.body["code"] == "invalid_developer"
        (opened,) = await tap.take(1)
        assert opened.routing_key == "ticket.opened"
        assert ticket_of(opened)["id"] == ticket["id"]

        sentinel = admin.create_user("CLIENT")
        (after,) = await tap.take(1)
        assert (after.routing_key, payload(after)["id"]) == ("user.created", sentinel["id"])


async def test_actions_succeed_while_the_broker_is_down_and_their_events_follow(
    infra: Infra, namespace: str, service: list[RunningTickets]
) -> None:
    async with EventTap(infra.amqp_url, namespace) as tap:
        tickets = start(infra, namespace, service)
        admin = TicketsApi(tickets.url).login_as(tickets.admin_username, tickets.admin_password)
        client = admin.user_session("CLIENT")
        project = admin.create_project()
        await tap.take(2)
        ticket_ids: list[int] = []
        await tap.disconnect()  # its queue is durable: it keeps what arrives meanwhile
        with rabbitmq_stopped(infra.amqp_url):
            ready = wait_for_readyz(tickets.url, 503)
            assert ready["checks"] == {"database": "ok", "broker": "unreachable"}
            for title in ("one", "two", "three"):
                ticket = client.create_ticket(project["id"], title=title)
                ticket_ids.append(ticket["id"])
                assert admin.open(ticket["id"])["status"] == "OPENED"
        await tap.connect()
        events = await tap.take(6, within=60)
        assert [(e.routing_key, ticket_of(e)["id"]) for e in events] == [
            ("ticket.created", ticket_ids[0]),
            ("ticket.opened", ticket_ids[0]),
            ("ticket.created", ticket_ids[1]),
            ("ticket.opened", ticket_ids[1]),
            ("ticket.created", ticket_ids[2]),
            ("ticket.opened", ticket_ids[2]),
        ]
        assert wait_for_readyz(tickets.url, 200)["checks"]["broker"] == "ok"


def wait_for_readyz(url: str, status: int, attempts: int = 300) -> dict[str, Any]:
    """Poll /readyz until it answers ``status`` (the relay notices a broker change quickly,
    but not instantly)."""
    import time

    body: dict[str, Any] = {}
    for _ in range(attempts):
        response = httpx.get(f"{url}/readyz", timeout=5)
        body = response.json()
        if response.status_code == status:
            return body
        time.sleep(0.1)
    raise AssertionError(f"/readyz never answered {status}: {body}")


async def test_sigterm_drains_and_exits_cleanly(
    infra: Infra, namespace: str, service: list[RunningTickets]
) -> None:
    async with EventTap(infra.amqp_url, namespace) as tap:
        tickets = start(infra, namespace, service)
        admin = TicketsApi(tickets.url).login_as(tickets.admin_username, tickets.admin_password)
        created = admin.create_user("CLIENT")
        async with httpx.AsyncClient() as http:
            metrics = (await http.get(f"{tickets.url}/metrics")).text
        assert "tickets_request_to_commit_seconds_count 1.0" in metrics
        assert tickets.process.terminate() == 0
        events = await tap.take(2)
        assert [payload(e)["id"] for e in events][1] == created["id"]
        assert "Application shutdown complete" in tickets.process.tail()

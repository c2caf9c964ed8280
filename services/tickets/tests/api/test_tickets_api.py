"""Tickets, users and projects over HTTP: role rules, status codes, bodies, pagination."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest

from .conftest import Api

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


class World:
    """Admin, two developers, two clients, a project, and a ticket of the first client."""

    def __init__(self, api: Api) -> None:
        self.api = api

    async def build(self) -> World:
        api = self.api
        self.admin = api.admin_token
        self.alice, self.alice_token = await api.user("DEVELOPER", "Alice Developer")
        self.bob, self.bob_token = await api.user("DEVELOPER", "Bob Support")
        self.john, self.john_token = await api.user("CLIENT", "John Client")
        self.mary, self.mary_token = await api.user("CLIENT", "Mary Client")
        self.project = await api.ok(
            "POST", "/api/projects/", self.admin, json={"name": "Website Redesign"}
        )
        self.ticket = await self.new_ticket()
        return self

    async def new_ticket(self, title: str = "Homepage not loading") -> dict[str, Any]:
        ticket: dict[str, Any] = await self.api.ok(
            "POST",
            "/api/tickets/",
            self.john_token,
            json={
                "title": title,
                "description": "The homepage returns 500 error",
                "priority": "HIGH",
                "category": "BUG",
                "project_id": self.project["id"],
            },
        )
        return ticket

    @staticmethod
    def admin_id(api: Api) -> int:
        return 1  # the bootstrap admin is the first user

    def path(self, action: str = "") -> str:
        return f"/api/tickets/{self.ticket['id']}/" + (f"{action}/" if action else "")


@pytest.fixture
async def world(api: Api) -> World:
    return await World(api).build()


async def test_a_created_ticket_carries_every_field(world: World) -> None:
    ticket = world.ticket
    assert {k: v for k, v in ticket.items() if not k.endswith("_at")} == {
        "id": 1,
        "title": "Homepage not loading",
        "description": "The homepage returns 500 error",
        "priority": "HIGH",
        "priority_display": "High",
        "category": "BUG",
        "category_display": "Bug",
        "status": "NEW",
        "status_display": "New",
        "project_id": world.project["id"],
        "project_name": "Website Redesign",
        "created_by": "John Client",
        "created_by_id": world.john["id"],
        "assigned_to": [],
        "assigned_to_names": [],
        "rejection_comment": None,
    }
    assert ISO_Z.match(ticket["created_at"])
    assert ISO_Z.match(ticket["updated_at"])
    for name in ("opened_at", "started_at", "resolved_at", "closed_at", "resolution_due_at"):
        assert ticket[name] is None


async def test_the_whole_lifecycle_over_http(world: World) -> None:
    api = world.api
    opened = await api.ok("POST", world.path("open"), world.admin)
    assert (opened["status"], opened["status_display"]) == ("OPENED", "Opened")
    assigned = await api.ok(
        "POST",
        world.path("assign"),
        world.admin,
        json={"developer_ids": [world.alice["id"]], "resolution_due_at": "2025-12-24T18:00:00Z"},
    )
    assert assigned["assigned_to"] == [world.alice["id"]]
    assert assigned["assigned_to_names"] == ["Alice Developer"]
    assert assigned["resolution_due_at"] == "2025-12-24T18:00:00Z"
    started = await api.ok("POST", world.path("start"), world.alice_token)
    assert (started["status"], started["status_display"]) == ("IN_PROGRESS", "In Progress")
    assert ISO_Z.match(started["started_at"])
    assert (await api.ok("POST", world.path("finish"), world.alice_token))["status"] == "RESOLVED"
    rejected = await api.ok(
        "POST", world.path("reject"), world.john_token, json={"comment": "Still broken"}
    )
    assert (rejected["status"], rejected["rejection_comment"]) == ("IN_PROGRESS", "Still broken")
    await api.ok("POST", world.path("finish"), world.alice_token)
    closed = await api.ok("POST", world.path("approve"), world.john_token)
    assert (closed["status"], closed["status_display"]) == ("CLOSED", "Closed")
    assert ISO_Z.match(closed["closed_at"])

    # Every change went out through the outbox, in order, with routing keys = event types.
    expected = [
        "ticket.created",
        "ticket.opened",
        "ticket.assigned",
        "ticket.work_started",
        "ticket.work_finished",
        "ticket.rejected",
        "ticket.work_finished",
        "ticket.approved",
    ]
    published = await published_events(api, 5 + len(expected))
    assert [m.event_type for m in published][5:] == expected
    assert [json.loads(m.body)["event_type"] for m in published][5:] == expected


async def published_events(api: Api, count: int) -> list[Any]:
    """Wait (bounded) for the embedded relay to hand ``count`` events to the fake broker."""
    for _ in range(500):
        if len(api.publisher.published) >= count:
            break
        await asyncio.sleep(0.01)
    assert len(api.publisher.published) == count
    return api.publisher.published


@pytest.mark.parametrize(
    ("action", "who", "status", "code"),
    [
        ("open", "john", 403, "forbidden"),
        ("open", "alice", 403, "forbidden"),
        ("assign", "john", 403, "forbidden"),
        ("assign", "admin", 409, "invalid_transition"),
        ("start", "admin", 403, "forbidden"),
        ("start", "alice", 403, "forbidden"),  # not assigned
        ("finish", "alice", 403, "forbidden"),
        ("approve", "mary", 403, "forbidden"),  # not the creator
        ("approve", "john", 409, "invalid_transition"),
        ("reject", "john", 409, "invalid_transition"),
        ("reject", "admin", 403, "forbidden"),
    ],
)
async def test_refusals_on_a_new_ticket(
    world: World, action: str, who: str, status: int, code: str
) -> None:
    token = {
        "john": world.john_token,
        "mary": world.mary_token,
        "alice": world.alice_token,
        "admin": world.admin,
    }[who]
    body = {"developer_ids": [world.alice["id"]]} if action == "assign" else None
    got_status, got = await world.api.call("POST", world.path(action), token, json=body)
    assert (got_status, got["code"]) == (status, code)
    assert isinstance(got["detail"], str)
    assert got["detail"]
    if code == "invalid_transition":
        assert got["status"] == "NEW"


async def test_invalid_transition_names_the_current_status(world: World) -> None:
    await world.api.ok("POST", world.path("open"), world.admin)
    status, body = await world.api.call("POST", world.path("open"), world.admin)
    assert (status, body) == (
        409,
        {
            "detail": "A ticket that is Opened cannot be opened.",
            "code": "invalid_transition",
            "status": "OPENED",
        },
    )


async def test_assign_adds_developers_and_refuses_non_developers(world: World) -> None:
    api = world.api
    await api.ok("POST", world.path("open"), world.admin)
    await api.ok(
        "POST", world.path("assign"), world.admin, json={"developer_ids": [world.alice["id"]]}
    )
    both = await api.ok(
        "POST",
        world.path("assign"),
        world.admin,
        json={"developer_ids": [world.bob["id"], world.alice["id"]]},
    )
    assert both["assigned_to"] == [world.alice["id"], world.bob["id"]]
    assert both["assigned_to_names"] == ["Alice Developer", "Bob Support"]
    for wrong in ([world.john["id"]], [999], [world.alice["id"], world.admin_id(api)]):
        status, body = await api.call(
            "POST", world.path("assign"), world.admin, json={"developer_ids": wrong}
        )
        assert (status, body["code"]) == (400, "invalid_developer"), wrong
    status, body = await api.call(
        "POST", world.path("assign"), world.admin, json={"developer_ids": []}
    )
    assert (status, body["code"]) == (422, "validation_error")


async def test_reject_needs_a_non_empty_comment(world: World) -> None:
    api = world.api
    await api.ok("POST", world.path("open"), world.admin)
    await api.ok(
        "POST", world.path("assign"), world.admin, json={"developer_ids": [world.alice["id"]]}
    )
    await api.ok("POST", world.path("start"), world.alice_token)
    await api.ok("POST", world.path("finish"), world.alice_token)
    for body in (None, {}, {"comment": ""}, {"comment": "   "}):
        status, got = await api.call("POST", world.path("reject"), world.john_token, json=body)
        assert (status, got) == (
            422,
            {
                "detail": "The field 'comment' is required and must not be empty.",
                "code": "validation_error",
            },
        ), body


async def test_reading_is_scoped(world: World) -> None:
    api = world.api
    second = await world.new_ticket("second")
    status, body = await api.call("GET", world.path(), world.mary_token)
    assert (status, body["code"]) == (404, "not_found")
    status, body = await api.call("GET", world.path(), world.alice_token)
    assert (status, body["code"]) == (404, "not_found")
    status, body = await api.call("GET", "/api/tickets/999/", world.admin)
    assert (status, body["code"]) == (404, "not_found")
    assert (await api.ok("GET", world.path(), world.john_token))["id"] == world.ticket["id"]

    def ids(tickets: list[dict[str, Any]]) -> list[int]:
        return [t["id"] for t in tickets]

    assert ids(await api.ok("GET", "/api/tickets/", world.admin)) == [
        second["id"],
        world.ticket["id"],
    ]
    assert ids(await api.ok("GET", "/api/tickets/", world.john_token)) == [
        second["id"],
        world.ticket["id"],
    ]
    assert await api.ok("GET", "/api/tickets/", world.mary_token) == []
    assert await api.ok("GET", "/api/tickets/", world.alice_token) == []
    page = await api.ok("GET", "/api/tickets/", world.admin, params={"limit": 1, "offset": 1})
    assert ids(page) == [world.ticket["id"]]


async def test_pagination_parameters_are_validated(world: World) -> None:
    for params in ({"limit": 0}, {"offset": -1}, {"limit": "x"}):
        status, body = await world.api.call("GET", "/api/tickets/", world.admin, params=params)
        assert (status, body["code"]) == (422, "validation_error"), params
        assert "parameter" in body["detail"]
    many = await world.api.ok("GET", "/api/users/", world.admin, params={"limit": 1000})
    assert len(many) == 5  # capped at 200, and there are only 5


async def test_creating_a_ticket(world: World) -> None:
    api = world.api
    good = {
        "title": "t",
        "description": "d",
        "priority": "LOW",
        "category": "SUPPORT",
        "project_id": world.project["id"],
    }
    for token in (world.admin, world.alice_token):
        status, body = await api.call("POST", "/api/tickets/", token, json=good)
        assert (status, body["code"]) == (403, "forbidden")
    status, body = await api.call(
        "POST", "/api/tickets/", world.john_token, json={**good, "project_id": 999}
    )
    assert (status, body["code"]) == (400, "invalid_project")
    status, body = await api.call(
        "POST", "/api/tickets/", world.john_token, json={**good, "priority": "URGENT"}
    )
    assert status == 422
    assert body["code"] == "validation_error"
    assert "'priority'" in body["detail"]
    status, body = await api.call(
        "POST", "/api/tickets/", world.john_token, json={"description": "d"}
    )
    assert (status, body["code"]) == (422, "validation_error")
    assert body["detail"].startswith("The field 'title' is required.")
    status, body = await api.call(
        "POST",
        "/api/tickets/",
        world.john_token,
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert (status, body) == (
        422,
        {"detail": "The request body is not valid JSON.", "code": "validation_error"},
    )
    created = await api.ok("POST", "/api/tickets/", world.john_token, json=good)
    assert (created["category_display"], created["priority_display"]) == ("Support", "Low")


async def test_users_are_managed_by_admins_only(world: World) -> None:
    api = world.api
    new = {"username": "zed", "password": "pw", "full_name": "Zed", "role": "DEVELOPER"}
    status, body = await api.call("POST", "/api/users/", world.john_token, json=new)
    assert (status, body["code"]) == (403, "forbidden")
    status, body = await api.call("POST", "/api/users/", world.admin, json=new)
    assert status == 201
    assert body == {"id": body["id"], **{k: v for k, v in new.items() if k != "password"}} | {
        "is_active": True
    }
    status, again = await api.call("POST", "/api/users/", world.admin, json=new)
    assert (status, again) == (
        409,
        {"detail": "The username 'zed' is already taken.", "code": "username_taken"},
    )
    status, bad = await api.call("POST", "/api/users/", world.admin, json={**new, "role": "BOSS"})
    assert (status, bad["code"]) == (422, "validation_error")

    devs = await api.ok("GET", "/api/users/", world.admin, params={"role": "DEVELOPER"})
    assert [u["username"] for u in devs] == ["zed", world.bob["username"], world.alice["username"]]
    status, body = await api.call("GET", "/api/users/", world.alice_token)
    assert (status, body["code"]) == (403, "forbidden")

    changed = await api.ok(
        "PATCH",
        f"/api/users/{body_id(world.bob)}/",
        world.admin,
        json={"full_name": "Robert Support", "role": "ADMIN"},
    )
    assert (changed["full_name"], changed["role"]) == ("Robert Support", "ADMIN")
    status, body = await api.call(
        "PATCH", f"/api/users/{body_id(world.bob)}/", world.bob_token, json={"is_active": False}
    )
    assert status == 200  # Bob is an admin now: his current token carries his new role
    status, body = await api.call("PATCH", "/api/users/999/", world.admin, json={})
    assert (status, body["code"]) == (404, "not_found")


def body_id(user: dict[str, Any]) -> int:
    value: int = user["id"]
    return value


async def test_projects(world: World) -> None:
    api = world.api
    status, body = await api.call("POST", "/api/projects/", world.john_token, json={"name": "x"})
    assert (status, body["code"]) == (403, "forbidden")
    second = await api.ok("POST", "/api/projects/", world.admin, json={"name": "Mobile"})
    listed = await api.ok("GET", "/api/projects/", world.alice_token)
    assert [p["name"] for p in listed] == ["Mobile", "Website Redesign"]
    assert listed[0]["id"] == second["id"]
    status, body = await api.call("POST", "/api/projects/", world.admin, json={"name": ""})
    assert (status, body["code"]) == (422, "validation_error")


async def test_system_endpoints(world: World) -> None:
    api = world.api
    assert await api.ok("GET", "/healthz") == {"status": "ok"}
    assert await api.ok("GET", "/readyz") == {
        "status": "ok",
        "checks": {"database": "ok", "broker": "ok"},
    }
    api.publisher.down = True
    status, body = await api.call("GET", "/readyz")
    assert (status, body["checks"], body["code"]) == (
        503,
        {"database": "ok", "broker": "unreachable"},
        "not_ready",
    )
    page = await api.ok("GET", "/internal/users/", params={"after_id": 1, "limit": 2})
    assert [u["id"] for u in page["results"]] == [world.alice["id"], world.bob["id"]]
    assert page["has_more"] is True
    metrics = (await api.http.get("/metrics")).text
    assert "tickets_request_to_commit_seconds_count" in metrics
    assert "tickets_outbox_commit_to_confirm_seconds_count" in metrics
    status, body = await api.call("GET", "/no/such/path")
    assert (status, body["code"]) == (404, "not_found")


async def test_the_bootstrap_admin_is_created_once(make_api: Any) -> None:
    first = await make_api()
    users = await first.ok("GET", "/api/users/", first.admin_token)
    assert [(u["username"], u["role"]) for u in users] == [("root", "ADMIN")]
    second = await make_api()  # same database, started again
    assert len(await second.ok("GET", "/api/users/", second.admin_token)) == 1


class BrokenTickets:
    """Stands in for the ticket use cases and fails the way a bug would."""

    async def list_tickets(self, *args: object, **kwargs: object) -> list[object]:
        raise RuntimeError("boom: secret internals")


async def test_an_unexpected_failure_keeps_the_error_shape(api: Api) -> None:
    api.runtime.tickets = BrokenTickets()  # type: ignore[assignment]
    status, body = await api.call("GET", "/api/tickets/", api.admin_token)
    assert (status, body) == (
        500,
        {"detail": "An unexpected error occurred; please retry.", "code": "internal_error"},
    )

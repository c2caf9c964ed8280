"""Every endpoint x role x ownership of the tickets API, from ONE table (API.md's codes).

Columns are the callers, relative to the ticket of the row: the ADMIN, ``dev_a`` (assigned
to the ticket from state ASSIGNED on), ``dev_b`` (a developer never assigned), ``owner`` (the
CLIENT who created it), ``other`` (another CLIENT) and ``anon`` (no token). States: NEW,
OPENED (no assignee), ASSIGNED (OPENED with dev_a), IN_PROGRESS, RESOLVED, CLOSED, ``absent``
(an id that names no ticket) and ``-`` (the endpoint has no ticket).

A cell is the documented status: 401 not_authenticated, 403 forbidden (wrong role, or not
the ticket's creator / assignee), 404 not_found (reading out of scope looks like absent),
409 invalid_transition (with the ticket's status), 2xx success. ``200+`` / ``200-``: the
ticket list answers 200 and does / does not include the row's ticket. Every refusal leaves
the ticket as it was; every success gets a ticket of its own.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import pytest

from .conftest import ADMIN, PASSWORD, TicketsApi

ACTORS = ("admin", "dev_a", "dev_b", "owner", "other", "anon")

MATRIX = """
# endpoint        ticket       admin  dev_a  dev_b  owner  other  anon
read              NEW          200    404    404    200    404    401
read              ASSIGNED     200    200    404    200    404    401
read              CLOSED       200    200    404    200    404    401
read              absent       404    404    404    404    404    401
list              NEW          200+   200-   200-   200+   200-   401
list              IN_PROGRESS  200+   200+   200-   200+   200-   401
create            -            403    403    403    201    201    401
open              NEW          200    403    403    403    403    401
open              OPENED       409    403    403    403    403    401
open              absent       404    404    404    404    404    401
assign            OPENED       200    403    403    403    403    401
assign            IN_PROGRESS  200    403    403    403    403    401
assign            NEW          409    403    403    403    403    401
assign            CLOSED       409    403    403    403    403    401
assign            absent       404    404    404    404    404    401
start             ASSIGNED     403    200    403    403    403    401
start             OPENED       403    403    403    403    403    401
start             IN_PROGRESS  403    409    403    403    403    401
start             absent       404    404    404    404    404    401
finish            IN_PROGRESS  403    200    403    403    403    401
finish            ASSIGNED     403    409    403    403    403    401
finish            absent       404    404    404    404    404    401
approve           RESOLVED     403    403    403    200    403    401
approve           IN_PROGRESS  403    403    403    409    403    401
approve           absent       404    404    404    404    404    401
reject            RESOLVED     403    403    403    200    403    401
reject            CLOSED       403    403    403    409    403    401
reject            absent       404    404    404    404    404    401
users.create      -            201    403    403    403    403    401
users.list        -            200    403    403    403    403    401
users.update      -            200    403    403    403    403    401
projects.create   -            201    403    403    403    403    401
projects.list     -            200    200    200    200    200    401
me                -            200    200    200    200    200    401
"""

CODES = {401: "not_authenticated", 403: "forbidden", 404: "not_found", 409: "invalid_transition"}
ABSENT_ID = 987_654


@dataclass(frozen=True)
class Row:
    endpoint: str
    state: str
    expected: dict[str, str]


def rows() -> list[Row]:
    parsed = []
    for line in MATRIX.strip().splitlines():
        if line.startswith("#"):
            continue
        endpoint, state, *cells = line.split()
        assert len(cells) == len(ACTORS), line
        parsed.append(Row(endpoint, state, dict(zip(ACTORS, cells, strict=True))))
    return parsed


ROWS = rows()


class World:
    """The callers and a project; tickets are made on demand in the state a row needs."""

    def __init__(self, api: TicketsApi) -> None:
        self.api = api
        self.names = itertools.count()
        self.tokens: dict[str, str | None] = {"anon": None}
        self.ids: dict[str, int] = {}

    async def build(self) -> World:
        self.tokens["admin"] = (await self.api.login(ADMIN[0], ADMIN[1]))["access"]
        for actor, role in (
            ("dev_a", "DEVELOPER"),
            ("dev_b", "DEVELOPER"),
            ("owner", "CLIENT"),
            ("other", "CLIENT"),
        ):
            user = await self.new_user(role, actor)
            self.ids[actor] = user["id"]
            self.tokens[actor] = (await self.api.login(user["username"]))["access"]
        self.project = await self.api.ok(
            "POST", "/api/projects/", self.tokens["admin"], json={"name": "Matrix"}
        )
        return self

    async def new_user(self, role: str, name: str = "user") -> dict[str, Any]:
        user: dict[str, Any] = await self.api.ok(
            "POST",
            "/api/users/",
            self.tokens["admin"],
            json={
                "username": f"{name}{next(self.names)}",
                "password": PASSWORD,
                "full_name": name.title(),
                "role": role,
            },
        )
        return user

    async def ticket(self, state: str) -> int:
        """A new ticket of ``owner`` brought to ``state`` by the rightful callers."""
        if state == "absent":
            return ABSENT_ID
        api, tokens = self.api, self.tokens
        ticket = await api.ok("POST", "/api/tickets/", tokens["owner"], json=self.ticket_body())
        path = f"/api/tickets/{ticket['id']}/"
        steps = [
            ("OPENED", "admin", "open/", None),
            ("ASSIGNED", "admin", "assign/", {"developer_ids": [self.ids["dev_a"]]}),
            ("IN_PROGRESS", "dev_a", "start/", None),
            ("RESOLVED", "dev_a", "finish/", None),
            ("CLOSED", "owner", "approve/", None),
        ]
        reached = "NEW"
        for step_state, actor, action, body in steps:
            if reached == state:
                break
            await api.ok("POST", path + action, tokens[actor], json=body)
            reached = step_state
        assert reached == state, state
        return int(ticket["id"])

    def ticket_body(self) -> dict[str, Any]:
        return {
            "title": f"Ticket {next(self.names)}",
            "description": "matrix",
            "priority": "HIGH",
            "category": "BUG",
            "project_id": self.project["id"],
        }

    async def request(self, endpoint: str, actor: str, ticket_id: int | None) -> tuple[int, Any]:
        token = self.tokens[actor]
        call = self.api.call
        if endpoint == "read":
            return await call("GET", f"/api/tickets/{ticket_id}/", token)
        if endpoint == "list":
            return await call("GET", "/api/tickets/", token, params={"limit": 200})
        if endpoint == "create":
            return await call("POST", "/api/tickets/", token, json=self.ticket_body())
        if endpoint in ("open", "start", "finish", "approve", "assign", "reject"):
            body = {
                "assign": {"developer_ids": [self.ids["dev_a"]]},
                "reject": {"comment": "Still broken"},
            }.get(endpoint)
            return await call("POST", f"/api/tickets/{ticket_id}/{endpoint}/", token, json=body)
        if endpoint == "users.create":
            body = {
                "username": f"made{next(self.names)}",
                "password": PASSWORD,
                "full_name": "Made",
                "role": "CLIENT",
            }
            return await call("POST", "/api/users/", token, json=body)
        if endpoint == "users.list":
            return await call("GET", "/api/users/", token)
        if endpoint == "users.update":
            target = self.ids["dev_b"]
            return await call("PATCH", f"/api/users/{target}/", token, json={"full_name": "B"})
        if endpoint == "projects.create":
            return await call(
                "POST", "/api/projects/", token, json={"name": f"P{next(self.names)}"}
            )
        if endpoint == "projects.list":
            return await call("GET", "/api/projects/", token)
        assert endpoint == "me", endpoint
        return await call("GET", "/api/auth/me/", token)

    async def status_of(self, ticket_id: int) -> str:
        ticket = await self.api.ok("GET", f"/api/tickets/{ticket_id}/", self.tokens["admin"])
        return str(ticket["status"])


@pytest.mark.parametrize("row", ROWS, ids=[f"{row.endpoint}-{row.state}" for row in ROWS])
async def test_each_caller_gets_the_documented_status(tickets_api: TicketsApi, row: Row) -> None:
    world = await World(tickets_api).build()
    needs_ticket = row.state != "-"
    shared = await world.ticket(row.state) if needs_ticket else None
    before = await world.status_of(shared) if shared not in (None, ABSENT_ID) else None
    answers: dict[str, str] = {}
    for actor in ACTORS:
        expected = row.expected[actor]
        succeeds = expected.startswith("2") and row.endpoint not in ("read", "list")
        ticket_id = await world.ticket(row.state) if succeeds and needs_ticket else shared
        status, body = await world.request(row.endpoint, actor, ticket_id)
        answers[actor] = str(status)
        if status >= 400:
            assert body["code"] == CODES.get(status), (actor, body)
            assert isinstance(body["detail"], str)
            assert body["detail"]
            if status == 409:
                assert body["status"] == row.state.replace("ASSIGNED", "OPENED"), body
        elif row.endpoint == "list":
            listed = shared in {ticket["id"] for ticket in body}
            answers[actor] += "+" if listed else "-"
        elif row.endpoint == "read":
            assert body["id"] == shared
    assert answers == row.expected
    if before is not None:
        assert shared is not None
        assert await world.status_of(shared) == before, "a refused action changed the ticket"


def test_the_table_covers_every_tickets_endpoint() -> None:
    endpoints = {row.endpoint for row in ROWS}
    assert endpoints == {
        "read", "list", "create", "open", "assign", "start", "finish", "approve", "reject",
        "users.create", "users.list", "users.update", "projects.create", "projects.list", "me",
    }  # fmt: skip
    # Every lifecycle action is tried in a state that allows it, one that does not, and on
    # an absent ticket; a 409 only ever answers a caller who passed the role and ownership.
    for action in ("open", "assign", "start", "finish", "approve", "reject"):
        cells = [row.expected for row in ROWS if row.endpoint == action]
        assert any("200" in cell.values() for cell in cells), action
        assert any("409" in cell.values() for cell in cells), action
        assert any(set(cell.values()) == {"404", "401"} for cell in cells), action

"""The whole lifecycle of API.md through the real tickets service and the real notifier.

tickets (PostgreSQL, outbox) -> RabbitMQ -> notifier consumer (PostgreSQL) -> inbox API.
The bootstrap admin reaches the notifier's directory through the users export (it was
created before the notifier's queue existed); everyone else through ``user.created``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest
from harness.api import TicketsApi
from harness.infra import Infra
from harness.notifier import RunningNotifier, delete_namespace, fresh_namespace, start_notifier
from harness.tickets import RunningTickets, start_tickets

# API.md's ticket fields per notification type, exactly.
TICKET_FIELDS = {
    "ticket_created": {
        "id", "title", "priority", "priority_display", "category", "status", "created_by",
        "project_name", "created_at",
    },
    "ticket_opened": {"id", "title", "status", "status_display", "opened_at"},
    "ticket_assigned": {
        "id", "title", "description", "priority", "priority_display", "category", "status",
        "assigned_to_names", "created_by", "project_name", "resolution_due_at",
    },
    "work_started": {"id", "title", "status", "status_display", "started_at"},
    "work_finished": {"id", "title", "status", "status_display", "resolved_at"},
    "ticket_approved": {"id", "title", "status", "status_display", "closed_at", "created_by"},
    "ticket_rejected": {
        "id", "title", "status", "status_display", "created_by", "rejection_comment",
    },
}  # fmt: skip
TITLE = "Homepage not loading"
REASON = "Issue still exists on mobile"
MESSAGES = {
    "ticket_created": f"New High priority ticket created: {TITLE}",
    "ticket_opened": f"Your ticket '{TITLE}' has been opened and acknowledged by admin",
    "ticket_assigned": f"You have been assigned to ticket: {TITLE}",
    "work_started": f"Work has started on your ticket: {TITLE}",
    "work_finished": f"Work completed on your ticket '{TITLE}'. Please review and approve.",
    "ticket_approved": f"Ticket '{TITLE}' has been approved and closed by client",
    "ticket_rejected": f"Ticket '{TITLE}' has been rejected by client. Reason: {REASON}",
}


@dataclass
class Stack:
    tickets: RunningTickets
    notifier: RunningNotifier


@dataclass
class Lifecycle:
    people: dict[str, TicketsApi]
    tickets_after: dict[str, list[dict[str, Any]]]
    """The ticket JSON answered by the action behind each notification type."""


@pytest.fixture(scope="module")
def stack(infra: Infra) -> Iterator[Stack]:
    namespace = fresh_namespace(infra)
    tickets = start_tickets(infra, INCIDENT_NAMESPACE=namespace)
    try:
        notifier = start_notifier(
            infra, tickets.url, name=f"notifier-{namespace}", INCIDENT_NAMESPACE=namespace
        )
        try:
            yield Stack(tickets, notifier)
        finally:
            notifier.stop()
    finally:
        tickets.stop()
        asyncio.run(delete_namespace(infra.amqp_url, namespace))


def inbox(stack: Stack, who: TicketsApi) -> TicketsApi:
    """The same caller, talking to the notifier's API."""
    assert who.access is not None
    return TicketsApi(stack.notifier.url, who.access)


def all_notifications(stack: Stack, who: TicketsApi) -> list[dict[str, Any]]:
    """Every notification of ``who``, newest first, following the cursor."""
    api, found, cursor = inbox(stack, who), [], None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = api.call("GET", "/api/notifications/", params=params)
        found += page["results"]
        cursor = page["next"]
        if cursor is None:
            return found


def wait_for_total(stack: Stack, people: list[TicketsApi], total: int) -> None:
    """Bounded wait until the notifier holds ``total`` unread records for ``people``."""
    deadline = time.monotonic() + 60
    counted = 0
    while time.monotonic() < deadline:
        counted = sum(
            inbox(stack, p).call("GET", "/api/notifications/unread-count/")["unread"]
            for p in people
        )
        if counted >= total:
            return
        time.sleep(0.1)
    raise AssertionError(f"expected {total} notifications, found {counted}")


@pytest.fixture(scope="module")
def lifecycle(stack: Stack) -> Lifecycle:
    tickets = stack.tickets
    admin = TicketsApi(tickets.url).login_as(tickets.admin_username, tickets.admin_password)
    people = {
        "admin": admin,
        "admin2": admin.user_session("ADMIN", full_name="Second Admin"),
        "client": admin.user_session("CLIENT", full_name="John Client"),
        "dev1": admin.user_session("DEVELOPER", full_name="Alice Developer"),
        "dev2": admin.user_session("DEVELOPER", full_name="Bob Support"),
        "other_client": admin.user_session("CLIENT"),
        "other_dev": admin.user_session("DEVELOPER"),
    }
    ids = {name: api.user["id"] for name, api in people.items() if api.user}
    client, dev1, dev2 = people["client"], people["dev1"], people["dev2"]
    project = admin.create_project("Website Redesign")
    after: dict[str, list[dict[str, Any]]] = {}

    def did(kind: str, ticket_json: dict[str, Any]) -> dict[str, Any]:
        after.setdefault(kind, []).append(ticket_json)
        return ticket_json

    ticket = did("ticket_created", client.create_ticket(project["id"], title=TITLE))
    tid = ticket["id"]
    did("ticket_opened", admin.open(tid))
    did("ticket_assigned", admin.assign(tid, [ids["dev1"]], "2025-12-24T18:00:00Z"))
    # Re-assigning dev1 with dev2: only dev2 is newly assigned.
    did("ticket_assigned", people["admin2"].assign(tid, [ids["dev1"], ids["dev2"]]))
    did("work_started", dev1.start(tid))
    did("work_finished", dev1.finish(tid))
    did("ticket_rejected", client.reject(tid, REASON))
    did("work_finished", dev2.finish(tid))
    did("ticket_approved", client.approve(tid))
    wait_for_total(stack, list(people.values()), 16)
    return Lifecycle(people, after)


EXPECTED = {
    "admin": ["ticket_created", "ticket_rejected", "ticket_approved"],
    "admin2": ["ticket_created", "ticket_rejected", "ticket_approved"],
    "client": ["ticket_opened", "work_started", "work_finished", "work_finished"],
    "dev1": ["ticket_assigned", "ticket_rejected", "ticket_approved"],
    "dev2": ["ticket_assigned", "ticket_rejected", "ticket_approved"],
    "other_client": [],
    "other_dev": [],
}


def _same_value(ours: Any, theirs: Any) -> bool:
    if isinstance(ours, str) and ours.endswith("Z") and isinstance(theirs, str):
        return datetime.fromisoformat(ours) == datetime.fromisoformat(theirs)
    return bool(ours == theirs)


def test_the_lifecycle_gives_each_person_exactly_their_notifications_in_seq_order(
    stack: Stack, lifecycle: Lifecycle
) -> None:
    for name, expected in EXPECTED.items():
        found = list(reversed(all_notifications(stack, lifecycle.people[name])))
        assert [n["notification_type"] for n in found] == expected, name
        assert [n["seq"] for n in found] == list(range(1, len(expected) + 1)), name
        assert [n["message"] for n in found] == [MESSAGES[kind] for kind in expected], name
        for notification in found:
            kind = notification["notification_type"]
            assert set(notification["ticket"]) == TICKET_FIELDS[kind], (name, kind)
            assert notification["timestamp"].endswith("Z")
            assert (notification["is_read"], notification["read_at"]) == (False, None)


def test_ticket_fields_match_the_ticket_after_each_action(
    stack: Stack, lifecycle: Lifecycle
) -> None:
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for name in ("admin", "client", "dev1", "dev2"):
        for notification in reversed(all_notifications(stack, lifecycle.people[name])):
            by_kind.setdefault(notification["notification_type"], []).append(notification)
    for kind, ticket_jsons in lifecycle.tickets_after.items():
        notified = by_kind[kind]
        # ticket_assigned: dev1 from the first assignment, dev2 from the second.
        for notification, ticket_json in zip(notified, ticket_jsons, strict=False):
            for field, value in notification["ticket"].items():
                assert _same_value(value, ticket_json[field]), (kind, field)
    assigned_first = by_kind["ticket_assigned"][0]["ticket"]
    assert assigned_first["assigned_to_names"] == ["Alice Developer"]
    assert assigned_first["resolution_due_at"] == "2025-12-24T18:00:00Z"
    assert by_kind["ticket_created"][0]["ticket"]["created_by"] == "John Client"
    assert by_kind["ticket_rejected"][0]["ticket"]["rejection_comment"] == REASON


def test_a_user_can_neither_list_nor_mark_anothers_notifications(
    stack: Stack, lifecycle: Lifecycle
) -> None:
    client, dev1 = lifecycle.people["client"], lifecycle.people["dev1"]
    clients = {n["id"] for n in all_notifications(stack, client)}
    devs = {n["id"] for n in all_notifications(stack, dev1)}
    assert clients.isdisjoint(devs)
    target = sorted(clients)[0]
    refused = httpx.post(
        f"{stack.notifier.url}/api/notifications/{target}/read/",
        headers={"Authorization": f"Bearer {dev1.access}"},
        timeout=10,
    )
    assert refused.status_code == 404
    assert refused.json() == {"detail": "No such notification.", "code": "not_found"}
    assert inbox(stack, client).call("GET", "/api/notifications/unread-count/") == {"unread": 4}


def test_reading_one_then_all(stack: Stack, lifecycle: Lifecycle) -> None:
    dev2 = inbox(stack, lifecycle.people["dev2"])
    oldest = all_notifications(stack, lifecycle.people["dev2"])[-1]
    assert dev2.call("POST", f"/api/notifications/{oldest['id']}/read/", expect=204) is None
    assert dev2.call("GET", "/api/notifications/unread-count/") == {"unread": 2}
    unread = dev2.call("GET", "/api/notifications/", params={"unread": "true"})["results"]
    assert [n["seq"] for n in unread] == [3, 2]
    read = dev2.call("GET", "/api/notifications/")["results"][-1]
    assert read["is_read"] is True
    assert read["read_at"].endswith("Z")
    assert dev2.call("POST", "/api/notifications/read-all/") == {"updated": 2}
    assert dev2.call("GET", "/api/notifications/unread-count/") == {"unread": 0}


def test_the_inbox_refuses_missing_and_bad_tokens(stack: Stack) -> None:
    url = f"{stack.notifier.url}/api/notifications/"
    missing = httpx.get(url, timeout=10)
    assert (missing.status_code, missing.json()["code"]) == (401, "not_authenticated")
    forged = httpx.get(url, headers={"Authorization": "Bearer a.b.c"}, timeout=10)
    assert (forged.status_code, forged.json()["code"]) == (401, "invalid_token")


def test_the_replay_endpoint_gives_the_records_after_a_seq(
    stack: Stack, lifecycle: Lifecycle
) -> None:
    client = lifecycle.people["client"]
    assert client.user is not None
    page = httpx.get(
        f"{stack.notifier.url}/internal/notifications/{client.user['id']}/",
        params={"after_seq": 2, "limit": 10},
        timeout=10,
    ).json()
    assert page["has_more"] is False
    assert [(n["seq"], n["notification_type"]) for n in page["results"]] == [
        (3, "work_finished"),
        (4, "work_finished"),
    ]

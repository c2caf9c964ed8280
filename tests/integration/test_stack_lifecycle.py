"""`make stack` for real: every process of the distributed mode behind its nginx gateway.

Through nginx only (one base URL, as a client sees it): the full ticket lifecycle of API.md
over HTTP, its notifications over WebSocket with the recipients spread over both gateway
instances, the inbox API; the internal endpoints out of reach; no token in nginx's log.
"""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import redis
from harness.api import TicketsApi
from harness.gateway import presence_of
from harness.infra import Infra
from harness.stack import RunningStack, running_stack
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

TITLE = "Homepage not loading"
REASON = "Issue still exists on mobile"
NOTIFICATION_KEYS = {"id", "seq", "notification_type", "message", "ticket", "timestamp"}


@pytest.fixture(scope="module")
def stack(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with running_stack(infra, tmp_path_factory.mktemp("stack")) as running:
        if running.info["base_url"] is None:
            pytest.skip(
                "the stack ran without nginx (not installed, and not installable here: "
                "not root or no apt-get); see its log in test-artifacts/logs"
            )
        yield running


@dataclass
class Listener:
    """One user's WebSocket, opened through nginx."""

    user: TicketsApi
    ws: ClientConnection

    @property
    def user_id(self) -> int:
        assert self.user.user is not None
        user_id: int = self.user.user["id"]
        return user_id

    def take(self, count: int) -> list[dict[str, Any]]:
        return [json.loads(self.ws.recv(timeout=30)) for _ in range(count)]

    def quiet(self) -> None:
        """Nothing else was queued for this user: the pong comes next (answers are in order)."""
        self.ws.send('{"type":"ping","timestamp":"barrier"}')
        assert json.loads(self.ws.recv(timeout=15)) == {"type": "pong", "timestamp": "barrier"}


def listen(stack: RunningStack, user: TicketsApi) -> Listener:
    assert user.access is not None
    return Listener(user, connect(stack.ws_url(user.access), open_timeout=15, legacy=True))


def test_full_lifecycle_through_the_gateway_reaches_recipients_on_both_instances(
    stack: RunningStack, infra: Infra
) -> None:
    api = TicketsApi(stack.base_url)
    admin = api.login_as(stack.admin_username, stack.admin_password)
    admin2 = admin.user_session("ADMIN", full_name="Second Admin")
    developer = admin.user_session("DEVELOPER", full_name="Alice Developer")
    client = admin.user_session("CLIENT", full_name="John Client")
    project = admin.create_project("Website Redesign")

    listeners = [listen(stack, user) for user in (admin, admin2, developer, client)]
    by_name = dict(zip(("admin", "admin2", "developer", "client"), listeners, strict=True))
    store = redis.Redis.from_url(infra.redis_url)
    try:
        # Presence is registered before the handshake completes its first ping round-trip.
        for listener in listeners:
            listener.quiet()
        hosts = {
            name: set(presence_of(store, stack.namespace, listener.user_id))
            for name, listener in by_name.items()
        }
        assert all(len(instances) == 1 for instances in hosts.values()), hosts
        assert set().union(*hosts.values()) == set(stack.gateway_instance_ids)

        ticket = client.create_ticket(project["id"], title=TITLE)
        ticket_id = ticket["id"]
        admin.open(ticket_id)
        admin.assign(ticket_id, [developer.user["id"]])  # type: ignore[index]
        developer.start(ticket_id)
        developer.finish(ticket_id)
        client.reject(ticket_id, REASON)
        developer.finish(ticket_id)
        closed = client.approve(ticket_id)
        assert closed["status"] == "CLOSED"

        expected = {
            "admin": ["ticket_created", "ticket_rejected", "ticket_approved"],
            "admin2": ["ticket_created", "ticket_rejected", "ticket_approved"],
            "developer": ["ticket_assigned", "ticket_rejected", "ticket_approved"],
            "client": ["ticket_opened", "work_started", "work_finished", "work_finished"],
        }
        received = {name: by_name[name].take(len(types)) for name, types in expected.items()}
        for listener in listeners:
            listener.quiet()
    finally:
        for listener in listeners:
            listener.ws.close()
        store.close()

    for name, types in expected.items():
        notifications = received[name]
        assert [n["notification_type"] for n in notifications] == types, name
        assert [n["seq"] for n in notifications] == list(range(1, len(types) + 1)), name
        assert all(set(n) == NOTIFICATION_KEYS for n in notifications), name
        assert {n["ticket"]["id"] for n in notifications} == {ticket_id}
    created = received["admin"][0]
    assert created["message"] == f"New High priority ticket created: {TITLE}"
    assert created["ticket"]["created_by"] == "John Client"
    assert created["ticket"]["project_name"] == "Website Redesign"
    assert received["admin2"][0]["message"] == created["message"]
    assert received["developer"][0]["message"] == f"You have been assigned to ticket: {TITLE}"
    assert received["developer"][0]["ticket"]["assigned_to_names"] == ["Alice Developer"]
    assert received["client"][0]["message"] == (
        f"Your ticket '{TITLE}' has been opened and acknowledged by admin"
    )
    assert received["client"][2]["message"] == (
        f"Work completed on your ticket '{TITLE}'. Please review and approve."
    )
    rejected = received["developer"][1]
    assert rejected["message"] == f"Ticket '{TITLE}' has been rejected by client. Reason: {REASON}"
    assert rejected["ticket"]["rejection_comment"] == REASON
    assert received["admin"][2]["message"] == (
        f"Ticket '{TITLE}' has been approved and closed by client"
    )

    # The inbox, through nginx: the same records, then read state.
    inbox = client.call("GET", "/api/notifications/")
    assert [item["id"] for item in inbox["results"]] == [
        n["id"] for n in reversed(received["client"])
    ]
    assert inbox["next"] is None
    assert client.call("GET", "/api/notifications/unread-count/") == {"unread": 4}
    client.call("POST", f"/api/notifications/{received['client'][0]['id']}/read/", expect=204)
    assert client.call("GET", "/api/notifications/unread-count/") == {"unread": 3}
    assert client.call("POST", "/api/notifications/read-all/") == {"updated": 3}
    assert client.call("GET", "/api/notifications/unread-count/") == {"unread": 0}
    # Someone else's notification is not the client's to mark.
    not_yours = received["admin"][0]["id"]
    body = client.call("POST", f"/api/notifications/{not_yours}/read/", expect=404)
    assert body["code"] == "not_found"


def test_internal_endpoints_are_not_reachable_through_the_gateway(stack: RunningStack) -> None:
    admin = TicketsApi(stack.base_url).login_as(stack.admin_username, stack.admin_password)
    headers = {"Authorization": f"Bearer {admin.access}"}
    gateway = urlsplit(stack.base_url)
    assert gateway.hostname is not None
    assert gateway.port is not None
    internal = {
        stack.notifier_url: "/internal/notifications/1/?after_seq=0&limit=10",
        stack.tickets_url: "/internal/users/?after_id=0&limit=10",
    }
    for service_url, path in internal.items():
        # The service itself serves it (so a 404 below is the gateway's doing)...
        direct = httpx.get(service_url + path, headers=headers, timeout=10)
        assert direct.status_code == 200, (path, direct.text)
        # ...and through the gateway it is not found, however the path is dressed up (sent
        # as written: http.client does not resolve dot segments the way httpx does).
        for variant in (path, "/api/notifications/../.." + path, "/api/tickets/%2e%2e/.." + path):
            connection = http.client.HTTPConnection(gateway.hostname, gateway.port, timeout=10)
            try:
                connection.request("GET", variant, headers=headers)
                response = connection.getresponse()
                status, body = response.status, json.loads(response.read())
            finally:
                connection.close()
            assert status == 404, variant
            assert body["code"] == "not_found", variant


def test_a_token_in_the_query_string_is_not_written_to_the_access_log(
    stack: RunningStack, tmp_path: Path
) -> None:
    user = TicketsApi(stack.base_url).login_as(stack.admin_username, stack.admin_password)
    assert user.access is not None
    listener = listen(stack, user)
    try:
        listener.quiet()
    finally:
        listener.ws.close()
    # And a refused one: the 401 of a bad token is logged too, without it.
    bad = "not-a-jwt-but-secret-looking-value"
    with pytest.raises(InvalidStatus) as refusal:
        connect(stack.ws_url(bad), open_timeout=15, legacy=True)
    assert refusal.value.response.status_code == 401
    # nginx logs a proxied WebSocket when it ends, and the stack relays lines as they come.
    deadline = time.monotonic() + 20
    while True:
        lines = stack.lines_of("nginx")
        upgrades = [line for line in lines if '"GET /ws/notifications/ HTTP/1.1" 101' in line]
        refused = [line for line in lines if '"GET /ws/notifications/ HTTP/1.1" 401' in line]
        if (upgrades and refused) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert upgrades, "nginx logged no WebSocket upgrade"
    assert refused, "nginx logged no refused handshake"
    output = stack.output()
    assert user.access not in output
    assert bad not in output
    assert "token=" not in output


def test_ctrl_c_stops_everything_the_stack_started_and_nothing_else(stack: RunningStack) -> None:
    """Last in this module: it stops the module's stack (the fixture then finds it stopped)."""
    bystander = subprocess.Popen(["sleep", "120"])
    try:
        pids = dict(stack.info["pids"])
        assert set(pids) == {
            "tickets",
            "notifier",
            "notifier-consumer",
            "ws-gateway-1",
            "ws-gateway-2",
            "nginx",
        }
        assert all(alive(pid) for pid in pids.values())
        stack.process.send_signal(signal.SIGINT)
        assert stack.process.wait(120) == 0
        assert [name for name, pid in pids.items() if alive(pid)] == []
        assert bystander.poll() is None, "a process the stack did not start was stopped"
        stopped = [line for line in stack.lines_of("stack") if " stopped (" in line]
        # Reverse start order: the public gateway first, tickets last.
        assert [line.split(" stopped")[0] for line in stopped] == [
            "nginx",
            "ws-gateway-2",
            "ws-gateway-1",
            "notifier-consumer",
            "notifier",
            "tickets",
        ]
    finally:
        bystander.kill()
        bystander.wait()


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (a stopped child not yet reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"

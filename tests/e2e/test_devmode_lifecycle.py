"""The dev mode as ``make run`` starts it: one process, one port, no servers.

A whole ticket lifecycle over HTTP, with the seed guide's own Python ``websocket-client``
example receiving each user's notifications at the guide's URL, then the inbox, the errors,
a resume after a restart, health and metrics, the console's files, and a clean Ctrl-C.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websocket
from harness.api import ApiError
from harness.devmode import DEMO_PASSWORDS, RunningDevMode, start_devmode

pytestmark = pytest.mark.integration

WAIT = 15.0
"""Seconds to wait for an expected notification before declaring it lost."""


@pytest.fixture(scope="module")
def devmode(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDevMode]:
    running = start_devmode(tmp_path_factory.mktemp("devmode"), name="devmode-lifecycle")
    try:
        yield running
    finally:
        running.stop()


class NotificationClient:
    """The seed guide's Python client ("3. Python Client"), kept as printed there.

    Two changes only: the URL comes from the test (the guide hard-codes localhost:8000), and
    each message is also put on a queue so that the test can look at it.
    """

    def __init__(self, access_token: str, ws_url: str) -> None:
        self.access_token = access_token
        self.ws_url = ws_url
        self.ws: websocket.WebSocketApp | None = None
        self.received: queue.Queue[dict[str, Any]] = queue.Queue()
        self.opened = threading.Event()

    def on_message(self, ws: Any, message: str) -> None:
        data = json.loads(message)
        print(f"Notification: {data['message']}")
        print(f"Type: {data['notification_type']}")
        print(f"Ticket: {data['ticket']}")
        print("-" * 50)
        self.received.put(data)

    def on_error(self, ws: Any, error: Any) -> None:
        print(f"Error: {error}")

    def on_close(self, ws: Any, close_status_code: Any, close_msg: Any) -> None:
        print("Connection closed")

    def on_open(self, ws: Any) -> None:
        print("Connected to notifications")
        self.opened.set()

        # Start ping thread
        def send_ping() -> None:
            while True:
                time.sleep(30)
                try:
                    ws.send(json.dumps({"type": "ping", "timestamp": time.time()}))
                except Exception:
                    break

        ping_thread = threading.Thread(target=send_ping)
        ping_thread.daemon = True
        ping_thread.start()

    def connect(self) -> None:
        self.ws = websocket.WebSocketApp(
            self.ws_url,
            on_open=self.on_open,
            on_message=self.on_message,
            on_error=self.on_error,
            on_close=self.on_close,
        )
        self.ws.run_forever()

    # --- test side ------------------------------------------------------------------------
    def start(self) -> NotificationClient:
        threading.Thread(target=self.connect, daemon=True).start()
        assert self.opened.wait(WAIT), f"the guide's client could not connect to {self.ws_url}"
        return self

    def take(self, count: int) -> list[dict[str, Any]]:
        """The next ``count`` notifications, in arrival order."""
        return [self.received.get(timeout=WAIT) for _ in range(count)]

    def nothing_more(self) -> bool:
        try:
            extra = self.received.get(timeout=0.5)
        except queue.Empty:
            return True
        raise AssertionError(f"unexpected notification: {extra}")

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()


def guide_client(devmode: RunningDevMode, username: str, since: int | None = None) -> Any:
    token = devmode.login_as(username).access
    assert token is not None
    return NotificationClient(token, devmode.ws_url(token=token, since=since)).start()


def kinds(notifications: list[dict[str, Any]]) -> list[str]:
    return [n["notification_type"] for n in notifications]


def test_the_seed_guide_client_receives_a_whole_lifecycle(devmode: RunningDevMode) -> None:
    admin = devmode.login_as("admin")
    carol = devmode.login_as("carol")
    alice = devmode.login_as("alice")
    bob = devmode.login_as("bob")
    listeners = {name: guide_client(devmode, name) for name in ("admin", "carol", "alice", "bob")}
    try:
        project = next(p for p in carol.call("GET", "/api/projects/"))
        assert project["name"] == "Website Redesign"
        ticket = carol.create_ticket(project["id"], title="Homepage not loading")
        tid = ticket["id"]
        admin.open(tid)
        assert alice.user is not None
        admin.assign(tid, [alice.user["id"]], "2025-12-24T18:00:00Z")
        alice.start(tid)
        alice.finish(tid)
        carol.reject(tid, "Issue still exists on mobile")
        alice.finish(tid)
        carol.approve(tid)

        to_admin = listeners["admin"].take(3)
        to_carol = listeners["carol"].take(4)
        to_alice = listeners["alice"].take(3)
    finally:
        for listener in listeners.values():
            listener.close()

    assert kinds(to_admin) == ["ticket_created", "ticket_rejected", "ticket_approved"]
    assert kinds(to_carol) == ["ticket_opened", "work_started", "work_finished", "work_finished"]
    assert kinds(to_alice) == ["ticket_assigned", "ticket_rejected", "ticket_approved"]
    assert listeners["bob"].nothing_more()
    for received in (to_admin, to_carol, to_alice):
        assert [n["seq"] for n in received] == list(range(1, len(received) + 1))

    created, rejected, approved = to_admin
    assert created["message"] == "New High priority ticket created: Homepage not loading"
    assert created["ticket"] == {
        "id": tid,
        "title": "Homepage not loading",
        "priority": "HIGH",
        "priority_display": "High",
        "category": "BUG",
        "status": "NEW",
        "created_by": "Carol Client",
        "project_name": "Website Redesign",
        "created_at": ticket["created_at"],
    }
    assert rejected["message"] == (
        "Ticket 'Homepage not loading' has been rejected by client. "
        "Reason: Issue still exists on mobile"
    )
    assert rejected["ticket"]["rejection_comment"] == "Issue still exists on mobile"
    assert approved["message"] == (
        "Ticket 'Homepage not loading' has been approved and closed by client"
    )
    assert to_carol[0]["message"] == (
        "Your ticket 'Homepage not loading' has been opened and acknowledged by admin"
    )
    assert to_carol[1]["message"] == "Work has started on your ticket: Homepage not loading"
    assert to_carol[2]["message"] == (
        "Work completed on your ticket 'Homepage not loading'. Please review and approve."
    )
    assigned = to_alice[0]
    assert assigned["message"] == "You have been assigned to ticket: Homepage not loading"
    assert assigned["ticket"]["assigned_to_names"] == ["Alice Developer"]
    assert assigned["ticket"]["resolution_due_at"] == "2025-12-24T18:00:00Z"
    for notification in to_admin + to_carol + to_alice:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", notification["timestamp"])

    # The inbox holds what the socket delivered, newest first; read one, then all.
    inbox = admin.call("GET", "/api/notifications/")
    assert [n["id"] for n in inbox["results"]] == [n["id"] for n in reversed(to_admin)]
    assert inbox["next"] is None
    assert admin.call("GET", "/api/notifications/unread-count/") == {"unread": 3}
    assert admin.call("POST", f"/api/notifications/{created['id']}/read/", expect=204) is None
    assert admin.call("GET", "/api/notifications/unread-count/") == {"unread": 2}
    assert admin.call("POST", "/api/notifications/read-all/") == {"updated": 2}
    assert admin.call("GET", "/api/notifications/", params={"unread": "true"})["results"] == []
    assert bob.call("GET", "/api/notifications/unread-count/") == {"unread": 0}


def test_errors_carry_a_detail_and_a_code(devmode: RunningDevMode) -> None:
    carol = devmode.login_as("carol")
    alice = devmode.login_as("alice")
    project_id = carol.call("GET", "/api/projects/")[0]["id"]
    ticket = carol.create_ticket(project_id, title="Printer on fire")

    with pytest.raises(ApiError) as too_early:
        alice.start(ticket["id"])
    assert too_early.value.status in (403, 409)
    with pytest.raises(ApiError) as not_admin:
        carol.list_users()
    assert (not_admin.value.status, not_admin.value.body["code"]) == (403, "forbidden")
    with pytest.raises(ApiError) as wrong_password:
        devmode.api().login("carol", "not-her-password")
    assert wrong_password.value.status == 401
    assert wrong_password.value.body["code"] == "invalid_credentials"
    with pytest.raises(ApiError) as missing:
        carol.call("POST", "/api/notifications/00000000-0000-0000-0000-000000000000/read/")
    assert (missing.value.status, missing.value.body["code"]) == (404, "not_found")
    for error in (too_early, not_admin, wrong_password, missing):
        assert isinstance(error.value.body["detail"], str)
        assert error.value.body["detail"].endswith(".")


def test_a_bad_token_is_refused_at_the_handshake(devmode: RunningDevMode) -> None:
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(devmode.ws_url(token="not-a-token"), timeout=WAIT)
    assert refused.value.status_code == 401
    with pytest.raises(websocket.WebSocketBadStatusException) as anonymous:
        websocket.create_connection(devmode.ws_url(), timeout=WAIT)
    assert anonymous.value.status_code == 401


def test_the_bearer_subprotocol_and_ping(devmode: RunningDevMode) -> None:
    token = devmode.login_as("dave").access
    assert token is not None
    connection = websocket.create_connection(
        devmode.ws_url(), subprotocols=["bearer", token], timeout=WAIT
    )
    try:
        assert connection.getsubprotocol() == "bearer"
        connection.send(json.dumps({"type": "ping", "timestamp": 1234}))
        assert json.loads(connection.recv()) == {"type": "pong", "timestamp": 1234}
        connection.send("not json")
        error = json.loads(connection.recv())
        assert error["type"] == "error"
        assert error["code"] == "invalid_json"
    finally:
        connection.close()


def test_a_frame_over_64_kib_is_closed_with_1009(devmode: RunningDevMode) -> None:
    token = devmode.login_as("dave").access
    assert token is not None
    offender = websocket.create_connection(devmode.ws_url(token=token), timeout=WAIT)
    bystander = websocket.create_connection(devmode.ws_url(token=token), timeout=WAIT)
    try:
        offender.send(json.dumps({"type": "ping", "pad": "x" * (64 * 1024)}))
        opcode, frame = offender.recv_data_frame(True)
        assert opcode == websocket.ABNF.OPCODE_CLOSE
        assert int.from_bytes(frame.data[:2], "big") == 1009
        bystander.send(json.dumps({"type": "ping", "timestamp": 1}))
        assert json.loads(bystander.recv()) == {"type": "pong", "timestamp": 1}
    finally:
        offender.shutdown()  # type: ignore[no-untyped-call]  # handshake done: free the socket
        bystander.close()


def test_health_metrics_console_and_nothing_internal(devmode: RunningDevMode) -> None:
    def get(path: str) -> httpx.Response:
        return httpx.get(devmode.url + path, timeout=WAIT)

    assert get("/healthz").json() == {"status": "ok"}
    assert get("/readyz").json() == {"status": "ok"}
    metrics = get("/metrics")
    assert metrics.status_code == 200
    assert "gateway_open_connections" in metrics.text
    page = get("/")
    assert page.headers["content-type"].startswith("text/html")
    assert "<title>Incident console</title>" in page.text
    script = get("/client/notifications.js")
    assert "javascript" in script.headers["content-type"]
    assert "export class NotificationsClient" in script.text
    assert get("/console.js").status_code == 200
    demo = get("/console/demo-users.json").json()
    assert {user["username"]: user["password"] for user in demo} == DEMO_PASSWORDS
    missing = get("/no/such/page")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
    # The internal routes of the services are not reachable from outside in the dev mode.
    assert get("/internal/users/").status_code == 404
    assert get("/internal/notifications/1/").status_code == 404


def test_the_banner_says_where_and_who(devmode: RunningDevMode) -> None:
    deadline = time.monotonic() + WAIT
    while "Ctrl-C stops." not in devmode.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    log = devmode.log()
    assert f"Web console      http://localhost:{devmode.port}/" in log
    for username, password in DEMO_PASSWORDS.items():
        assert re.search(rf"{username}\s+password {password}\s", log), username
    assert "Broker           in-process" in log
    assert "Presence/routing in-process" in log


def test_data_survive_a_restart_and_since_resumes(tmp_path: Path) -> None:
    devmode = start_devmode(tmp_path, name="devmode-restart")
    try:
        carol = devmode.login_as("carol")
        admin = devmode.login_as("admin")
        ticket = carol.create_ticket(carol.call("GET", "/api/projects/")[0]["id"])
        admin.open(ticket["id"])
        devmode.process.restart()
        # Demo data are created once: still one project and five users.
        admin = devmode.login_as("admin")
        assert len(admin.list_users()) == 5
        assert len(admin.call("GET", "/api/projects/")) == 1
        # Missed while away: ticket_created (seq 1) for the admin, replayed from since=0.
        listener = guide_client(devmode, "admin", since=0)
        try:
            replayed = listener.take(1)
            assert kinds(replayed) == ["ticket_created"]
            assert replayed[0]["seq"] == 1
            carol = devmode.login_as("carol")
            second = carol.create_ticket(ticket["project_id"], title="Second")
            live = listener.take(1)
            assert kinds(live) == ["ticket_created"]
            assert live[0]["seq"] == 2
            assert live[0]["ticket"]["id"] == second["id"]
        finally:
            listener.close()
    finally:
        devmode.stop()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_it_stops_cleanly(tmp_path: Path, signum: signal.Signals) -> None:
    devmode = start_devmode(tmp_path, name=f"devmode-stop-{signum.name.lower()}")
    token = devmode.login_as("carol").access
    assert token is not None
    connection = websocket.create_connection(devmode.ws_url(token=token), timeout=WAIT)
    process = devmode.process
    log_size = len(devmode.log())
    os.kill(process.pid, signum)
    deadline = time.monotonic() + WAIT
    while process.running() and time.monotonic() < deadline:
        time.sleep(0.05)
    connection.close()
    assert not process.running(), "still running after the signal"
    assert process.terminate() == 0  # already exited: returns its exit status
    tail = devmode.log()[log_size:]
    assert "stopped" in tail
    assert "Traceback" not in tail

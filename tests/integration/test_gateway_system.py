"""The whole path through real processes: tickets -> RabbitMQ -> notifier -> Redis -> TWO
gateway instances -> WebSocket clients, over real PostgreSQL, RabbitMQ and Redis.

The system runs in a namespace of its own (exchange, queues, Redis keys), so events of other
test modules of the same run never reach it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import redis
import websocket  # websocket-client, as in the seed guide's Python example
from harness.api import TicketsApi
from harness.gateway import RunningGateway, presence_of, start_gateway
from harness.infra import Infra
from harness.notifier import RunningNotifier, start_notifier
from harness.tickets import RunningTickets, start_tickets
from harness.waiting import wait_until
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from incident_contracts.names import Names

TITLE = "Homepage not loading"
NOTIFICATION_KEYS = ("id", "seq", "notification_type", "message", "ticket", "timestamp")
TICKET_FIELDS = {  # API.md, "A notification": the ticket fields each type carries at least
    "ticket_created": "id title priority priority_display category status created_by "
    "project_name created_at",
    "ticket_opened": "id title status status_display opened_at",
    "ticket_assigned": "id title description priority priority_display category status "
    "assigned_to_names created_by project_name resolution_due_at",
    "work_started": "id title status status_display started_at",
    "work_finished": "id title status status_display resolved_at",
    "ticket_approved": "id title status status_display closed_at created_by",
    "ticket_rejected": "id title status status_display created_by rejection_comment",
}
# Slow heartbeats: the gap test removes a presence entry by hand and must not see it back.
GATEWAY_ENV: dict[str, object] = {"heartbeat_interval_seconds": 600, "presence_ttl_seconds": 900}


@dataclass
class System:
    infra: Infra
    namespace: str
    tickets: RunningTickets
    notifier: RunningNotifier
    a: RunningGateway
    b: RunningGateway
    admin: TicketsApi
    redis: redis.Redis
    extra: list[RunningGateway] = field(default_factory=list)

    def gateway(self, name: str, **env: object) -> RunningGateway:
        running = start_gateway(
            self.infra,
            self.tickets.url,
            self.notifier.url,
            f"{name}-{self.infra.run_id}",
            INCIDENT_NAMESPACE=self.namespace,
            **{**GATEWAY_ENV, **env},
        )
        self.extra.append(running)
        return running

    def user(self, role: str, full_name: str | None = None) -> TicketsApi:
        return self.admin.user_session(role, full_name=full_name)

    def inbox(self, user: TicketsApi) -> list[dict[str, Any]]:
        """The user's stored notifications, ascending by seq (the notifier's truth)."""
        response = httpx.get(
            f"{self.notifier.url}/api/notifications/",
            params={"limit": 200},
            headers={"Authorization": f"Bearer {user.access}"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        stored = sorted(response.json()["results"], key=lambda item: item["seq"])
        # The inbox adds its own fields (read state); the WebSocket carries API.md's object.
        return [{key: item[key] for key in NOTIFICATION_KEYS} for item in stored]


@pytest.fixture(scope="module")
def system(infra: Infra) -> Iterator[System]:
    namespace = f"{infra.namespace}gw"
    tickets = start_tickets(infra, INCIDENT_NAMESPACE=namespace)
    notifier = start_notifier(infra, tickets.url, INCIDENT_NAMESPACE=namespace)
    client = redis.Redis.from_url(infra.redis_url)
    gateways: list[RunningGateway] = []
    try:
        for name in ("a", "b"):
            gateways.append(
                start_gateway(
                    infra,
                    tickets.url,
                    notifier.url,
                    f"{name}-{infra.run_id}",
                    INCIDENT_NAMESPACE=namespace,
                    **GATEWAY_ENV,
                )
            )
        admin = TicketsApi(tickets.url).login_as(tickets.admin_username, tickets.admin_password)
        running = System(
            infra, namespace, tickets, notifier, gateways[0], gateways[1], admin, client
        )
        yield running
        gateways.extend(running.extra)
    finally:
        for gateway in gateways:
            gateway.process.kill()
        notifier.stop()
        tickets.stop()
        client.close()


class Listener:
    """One WebSocket connection of one user, reading notifications."""

    def __init__(self, gateway: RunningGateway, user: TicketsApi, since: int | None = None):
        assert user.access is not None
        self.ws: ClientConnection = connect(
            gateway.ws(user.access, since), open_timeout=10, legacy=True
        )

    def take(self, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        received = [json.loads(self.ws.recv(timeout=timeout)) for _ in range(count)]
        for item in received:
            assert "type" not in item, f"not a notification: {item}"
        return received

    def quiet(self) -> None:
        """Nothing else is queued before a pong (the server answers in order)."""
        self.ws.send('{"type":"ping","timestamp":"barrier"}')
        assert json.loads(self.ws.recv(timeout=10)) == {"type": "pong", "timestamp": "barrier"}

    def close(self) -> None:
        self.ws.close()


def summary(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(item["notification_type"], item["message"]) for item in items]


# --- isolation first: nobody else is connected yet ------------------------------------
def test_a_notification_for_a_user_on_instance_a_never_reaches_instance_b(
    system: System,
) -> None:
    creator = system.user("CLIENT")
    dev_x = system.user("DEVELOPER")
    dev_y = system.user("DEVELOPER")
    project = system.admin.create_project()
    first = creator.create_ticket(project["id"], title="Isolation one")
    second = creator.create_ticket(project["id"], title="Isolation two")
    system.admin.open(first["id"])
    system.admin.open(second["id"])
    on_a = Listener(system.a, dev_x)
    on_b = Listener(system.b, dev_y)
    try:
        before_a, before_b = system.a.metrics(), system.b.metrics()
        system.admin.assign(first["id"], [dev_x.user["id"]])  # type: ignore[index]
        [for_x] = on_a.take(1)
        assert for_x["message"] == "You have been assigned to ticket: Isolation one"
        # A barrier for B: the notifier handles events in order, so a wrong route of X's
        # notification to B would have been read by B before Y's own one.
        system.admin.assign(second["id"], [dev_y.user["id"]])  # type: ignore[index]
        [for_y] = on_b.take(1)
        assert for_y["message"] == "You have been assigned to ticket: Isolation two"
        after_a, after_b = system.a.metrics(), system.b.metrics()
        routed, delivered = "gateway_routed_entries_total", "gateway_messages_delivered_total"
        assert after_b[routed] - before_b[routed] == 1
        assert after_b[delivered] - before_b[delivered] == 1
        assert after_a[routed] - before_a[routed] == 1
        assert after_a[delivered] - before_a[delivered] == 1
        on_a.quiet()
        on_b.quiet()
    finally:
        on_a.close()
        on_b.close()


def test_full_lifecycle_reaches_each_recipient_on_both_instances(system: System) -> None:
    admin2 = system.user("ADMIN", "Second Admin")
    client = system.user("CLIENT", "John Client")
    dev1 = system.user("DEVELOPER", "Alice Developer")
    dev2 = system.user("DEVELOPER", "Bob Support")
    project = system.admin.create_project("Website Redesign")
    listeners = {
        "admin": [Listener(system.a, system.admin)],
        "admin2": [Listener(system.b, admin2)],
        "client": [Listener(system.a, client), Listener(system.b, client)],  # two devices
        "dev1": [Listener(system.a, dev1)],
        "dev2": [Listener(system.b, dev2)],
    }
    try:
        ticket = client.create_ticket(project["id"], title=TITLE, priority="HIGH")
        tid = ticket["id"]
        system.admin.open(tid)
        system.admin.assign(tid, [dev1.user["id"], dev2.user["id"]])  # type: ignore[index]
        dev1.start(tid)
        dev1.finish(tid)
        client.reject(tid, "Issue still exists on mobile")
        dev2.finish(tid)
        client.approve(tid)

        created = ("ticket_created", f"New High priority ticket created: {TITLE}")
        rejected = (
            "ticket_rejected",
            f"Ticket '{TITLE}' has been rejected by client. Reason: Issue still exists on mobile",
        )
        approved = ("ticket_approved", f"Ticket '{TITLE}' has been approved and closed by client")
        assigned = ("ticket_assigned", f"You have been assigned to ticket: {TITLE}")
        finished = (
            "work_finished",
            f"Work completed on your ticket '{TITLE}'. Please review and approve.",
        )
        expected = {
            "admin": [created, rejected, approved],
            "admin2": [created, rejected, approved],
            "client": [
                (
                    "ticket_opened",
                    f"Your ticket '{TITLE}' has been opened and acknowledged by admin",
                ),
                ("work_started", f"Work has started on your ticket: {TITLE}"),
                finished,
                finished,
            ],
            "dev1": [assigned, rejected, approved],
            "dev2": [assigned, rejected, approved],
        }
        users = {"admin": system.admin, "admin2": admin2, "client": client}
        users |= {"dev1": dev1, "dev2": dev2}
        for name, connections in listeners.items():
            stored = system.inbox(users[name])[-len(expected[name]) :]  # admin: older ones too
            for listener in connections:
                received = listener.take(len(expected[name]))
                assert summary(received) == expected[name], name
                assert received == stored, name  # exactly the records, in seq order
                for item in received:
                    assert item["ticket"]["id"] == tid
                    assert set(item) == set(NOTIFICATION_KEYS)
                    required = set(TICKET_FIELDS[item["notification_type"]].split())
                    assert required <= set(item["ticket"]), item["notification_type"]
                listener.quiet()
        client_view = system.inbox(client)
        assert client_view[0]["ticket"]["status"] == "OPENED"
        assigned_to = system.inbox(dev2)[0]["ticket"]["assigned_to_names"]
        assert sorted(assigned_to) == ["Alice Developer", "Bob Support"]
    finally:
        for connections in listeners.values():
            for listener in connections:
                listener.close()


def test_the_seed_guides_python_client_receives_notifications(system: System) -> None:
    client = system.user("CLIENT")
    developer = system.user("DEVELOPER")
    received: list[dict[str, Any]] = []
    opened = threading.Event()

    # The seed guide's NotificationClient, unchanged but for the URL and keeping what it got.
    class NotificationClient:
        def __init__(self, access_token: str) -> None:
            self.access_token = access_token
            self.ws: websocket.WebSocketApp | None = None

        def on_message(self, ws: Any, message: str) -> None:
            data = json.loads(message)
            print(f"Notification: {data['message']}")
            print(f"Type: {data['notification_type']}")
            print(f"Ticket: {data['ticket']}")
            print("-" * 50)
            received.append(data)

        def on_error(self, ws: Any, error: Any) -> None:
            print(f"Error: {error}")

        def on_close(self, ws: Any, close_status_code: Any, close_msg: Any) -> None:
            print("Connection closed")

        def on_open(self, ws: Any) -> None:
            print("Connected to notifications")

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
            opened.set()

        def connect(self) -> None:
            ws_url = f"ws://127.0.0.1:{system.b.port}/ws/notifications/?token={self.access_token}"
            self.ws = websocket.WebSocketApp(
                ws_url,
                on_open=self.on_open,
                on_message=self.on_message,
                on_error=self.on_error,
                on_close=self.on_close,
            )
            self.ws.run_forever()

    assert client.access is not None
    guide_client = NotificationClient(client.access)
    thread = threading.Thread(target=guide_client.connect, daemon=True)
    thread.start()
    try:
        assert opened.wait(10)
        project = system.admin.create_project()
        ticket = client.create_ticket(project["id"], title="Printer on fire")
        system.admin.open(ticket["id"])
        system.admin.assign(ticket["id"], [developer.user["id"]])  # type: ignore[index]
        developer.start(ticket["id"])
        wait_until(lambda: len(received) >= 2, "two notifications")
    finally:
        assert guide_client.ws is not None
        guide_client.ws.close()
        thread.join(10)
    assert summary(received) == [
        (
            "ticket_opened",
            "Your ticket 'Printer on fire' has been opened and acknowledged by admin",
        ),
        ("work_started", "Work has started on your ticket: Printer on fire"),
    ]
    assert [item["ticket"]["status"] for item in received] == ["OPENED", "IN_PROGRESS"]


def _open_in_background(
    system: System, ticket_ids: list[int], pause: float = 0.02
) -> threading.Thread:
    def run() -> None:
        for ticket_id in ticket_ids:
            system.admin.open(ticket_id)
            time.sleep(pause)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_resume_with_since_while_live_ones_keep_coming(system: System) -> None:
    client = system.user("CLIENT")
    project = system.admin.create_project()
    ids = [client.create_ticket(project["id"], title=f"Resume {n}")["id"] for n in range(12)]
    first = Listener(system.a, client)
    flow = _open_in_background(system, ids)
    try:
        early = first.take(3)
    finally:
        first.close()
    last_seq = early[-1]["seq"]
    resumed = Listener(system.b, client, since=last_seq)  # while the flow goes on
    try:
        rest = resumed.take(len(ids) - 3)
        flow.join(30)
        resumed.quiet()
    finally:
        resumed.close()
    everything = early + rest
    seqs = [item["seq"] for item in everything]
    assert seqs == list(range(seqs[0], seqs[0] + len(ids)))  # no gap, no repeat, in order
    assert [item["ticket"]["title"] for item in everything] == [f"Resume {n}" for n in range(12)]
    assert everything == system.inbox(client)


def test_a_lost_route_is_filled_from_the_stored_records(system: System) -> None:
    client = system.user("CLIENT")
    project = system.admin.create_project()
    ids = [client.create_ticket(project["id"], title=f"Gap {n}")["id"] for n in range(3)]
    listener = Listener(system.a, client)
    try:
        system.admin.open(ids[0])
        [first] = listener.take(1)
        # Lose the next route: the notifier finds no presence for the client for a moment.
        key = Names(system.namespace).presence_key(client.user["id"])  # type: ignore[index]
        score = system.redis.zscore(key, system.a.instance_id)
        assert score is not None
        system.redis.zrem(key, system.a.instance_id)
        gaps_before = system.a.metric('gateway_replay_fetches_total{reason="gap"}')
        system.admin.open(ids[1])
        wait_until(lambda: len(system.inbox(client)) == 2, "the second record stored")
        system.redis.zadd(key, {system.a.instance_id: score})
        system.admin.open(ids[2])
        rest = listener.take(2)
        listener.quiet()
    finally:
        listener.close()
    assert [item["seq"] for item in [first, *rest]] == [first["seq"] + n for n in range(3)]
    assert [item["ticket"]["title"] for item in rest] == ["Gap 1", "Gap 2"]
    assert system.a.metric('gateway_replay_fetches_total{reason="gap"}') == gaps_before + 1


class ResumingClient(threading.Thread):
    """Reads notifications; when its gateway dies it resumes on the next one with since."""

    def __init__(self, user: TicketsApi, gateways: list[RunningGateway], expected: int) -> None:
        super().__init__(daemon=True)
        self.user = user
        self.gateways = gateways
        self.expected = expected
        self.received: list[dict[str, Any]] = []
        self.connected = threading.Event()
        self.reconnects = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for index, gateway in enumerate(self.gateways):
                since = self.received[-1]["seq"] if self.received else None
                assert self.user.access is not None
                with connect(gateway.ws(self.user.access, since), open_timeout=10) as ws:
                    self.connected.set()
                    self.reconnects = index
                    try:
                        while len(self.received) < self.expected:
                            self.received.append(json.loads(ws.recv(timeout=30)))
                        return
                    except ConnectionClosed:
                        continue
        except BaseException as error:
            self.error = error


def test_killing_a_gateway_loses_nothing_for_clients_that_resume(system: System) -> None:
    doomed = system.gateway("k")
    clients = [system.user("CLIENT") for _ in range(2)]
    project = system.admin.create_project()
    per_client = 10
    tickets = {
        index: [
            client.create_ticket(project["id"], title=f"Kill {index}-{n}")["id"]
            for n in range(per_client)
        ]
        for index, client in enumerate(clients)
    }
    readers = [ResumingClient(client, [doomed, system.b], per_client) for client in clients]
    for reader in readers:
        reader.start()
        assert reader.connected.wait(10)
    interleaved = [ticket for pair in zip(*tickets.values(), strict=True) for ticket in pair]
    flow = _open_in_background(system, interleaved, pause=0.1)
    wait_until(lambda: all(len(r.received) >= 2 for r in readers), "the first notifications")
    doomed.process.kill()  # SIGKILL while notifications flow
    flow.join(60)
    for reader in readers:
        reader.join(60)
    for index, reader in enumerate(readers):
        assert reader.error is None, reader.error
        assert reader.reconnects == 1
        titles = [item["ticket"]["title"] for item in reader.received]
        assert titles == [f"Kill {index}-{n}" for n in range(per_client)]  # once each, in order
        assert reader.received == system.inbox(clients[index])
    assert doomed.instance_id in presence_of(system.redis, system.namespace, clients[0].user["id"])  # type: ignore[index]

"""The nginx gateway template, rendered as `make stack` renders it, in front of stand-in
upstreams that record what reaches them: the routes of API.md, WebSocket upgrades spread
over the gateway instances, the internal endpoints out of reach, and no query string (the
token) in the access log."""

from __future__ import annotations

import http.client
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect
from websockets.sync.server import Server, ServerConnection, serve

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy/gateway/incident.conf.template"
TOKEN = "eyJhbGciOiJFZERTQSJ9.secret-token-material.signature"


def stack_nginx() -> ModuleType:
    path = ROOT / "scripts/stack_nginx.py"
    spec = importlib.util.spec_from_file_location("stack_nginx", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_template_placeholders_are_exactly_the_documented_four() -> None:
    module = stack_nginx()
    found = set(module.PLACEHOLDER.findall(TEMPLATE.read_text()))
    assert found == set(module.TEMPLATE_NAMES)


def test_rendering_refuses_a_placeholder_without_a_value() -> None:
    module = stack_nginx()
    with pytest.raises(KeyError, match="WS_GATEWAY_SERVERS"):
        module.render_template("upstream x { ${WS_GATEWAY_SERVERS} }", {"LISTEN_PORT": "1"})
    assert module.render_template("listen ${LISTEN_PORT}; $host", {"LISTEN_PORT": "80"}) == (
        "listen 80; $host"
    )


def test_access_log_format_leaves_out_query_strings_and_credentials() -> None:
    text = TEMPLATE.read_text()
    match = re.search(r"log_format\s+incident_gateway\s+(.*?);", text, re.S)
    assert match is not None
    log_format = match.group(1)
    assert "$uri" in log_format
    assert "$remote_addr" in log_format
    for leaky in (
        "$request ",
        '$request"',
        "$request_uri",
        "$args",
        "$query_string",
        "$arg_",
        "$http_referer",
        "$http_authorization",
        "$http_sec_websocket_protocol",
    ):
        assert leaky not in log_format, leaky
    assert "access_log /dev/stdout incident_gateway;" in text


# --- nginx in front of stand-in upstreams -------------------------------------------------
@dataclass
class Recorder:
    name: str
    seen: list[dict[str, Any]] = field(default_factory=list)


def http_upstream(recorder: Recorder) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            self._answer()

        def _answer(self) -> None:
            recorder.seen.append({"path": self.path, "headers": dict(self.headers.items())})
            body = json.dumps({"upstream": recorder.name, "path": self.path}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test reads what it needs from the recorder."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def ws_upstream(recorder: Recorder) -> Server:
    def handler(connection: ServerConnection) -> None:
        assert connection.request is not None
        recorder.seen.append({"path": connection.request.path})
        connection.send(json.dumps({"upstream": recorder.name, "path": connection.request.path}))
        for message in connection:
            connection.send(message)

    server = serve(handler, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@dataclass
class Gateway:
    base_url: str
    port: int
    access_log: Path
    tickets: Recorder
    notifier: Recorder
    gateways: tuple[Recorder, Recorder]
    stop_notifier: Any
    argv: list[str]

    def all_paths(self) -> list[str]:
        return [
            seen["path"]
            for recorder in (self.tickets, self.notifier, *self.gateways)
            for seen in recorder.seen
        ]


def close(server: ThreadingHTTPServer | Server) -> None:
    server.shutdown()
    if isinstance(server, ThreadingHTTPServer):
        server.server_close()  # the listening socket too, so connections are refused


def port_of(server: ThreadingHTTPServer | Server) -> int:
    if isinstance(server, ThreadingHTTPServer):
        return int(server.server_address[1])
    return int(server.socket.getsockname()[1])


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    module = stack_nginx()
    nginx = module.find_nginx()
    if nginx is None:
        pytest.skip("nginx is not installed (apt-get install nginx; `make stack` does it)")
    logs = tmp_path_factory.mktemp("nginx-logs")
    tickets, notifier = Recorder("tickets"), Recorder("notifier")
    gateways = (Recorder("gw1"), Recorder("gw2"))
    tickets_server, notifier_server = http_upstream(tickets), http_upstream(notifier)
    ws_servers = [ws_upstream(recorder) for recorder in gateways]
    port = free_port()
    # Exactly what `make stack` runs: the same rendering, main configuration and directory.
    plan = module.prepare_nginx(
        nginx,
        port,
        [f"127.0.0.1:{port_of(tickets_server)}"],
        [f"127.0.0.1:{port_of(notifier_server)}"],
        [f"127.0.0.1:{port_of(server)}" for server in ws_servers],
    )
    access_log = logs / "stdout.log"
    with access_log.open("wb") as out, (logs / "stderr.log").open("wb") as err:
        process = subprocess.Popen(plan.argv, stdout=out, stderr=err)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/gateway/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, (logs / "stderr.log").read_text()
            assert time.monotonic() < deadline, "nginx did not answer"
            time.sleep(0.05)
        yield Gateway(
            f"http://127.0.0.1:{port}",
            port,
            access_log,
            tickets,
            notifier,
            gateways,
            lambda: close(notifier_server),
            plan.argv,
        )
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(plan.home, ignore_errors=True)
        servers: list[ThreadingHTTPServer | Server] = [tickets_server, notifier_server, *ws_servers]
        for server in servers:
            close(server)


def test_rendered_configuration_passes_nginx_syntax_check(gateway: Gateway) -> None:
    result = subprocess.run(
        [*gateway.argv, "-t"], capture_output=True, text=True, check=False, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


@pytest.mark.parametrize(
    ("path", "upstream"),
    [
        ("/api/auth/login/", "tickets"),
        ("/api/users/?role=DEVELOPER", "tickets"),
        ("/api/users", "tickets"),
        ("/api/projects/", "tickets"),
        ("/api/tickets/12/open/", "tickets"),
        ("/.well-known/jwks.json", "tickets"),
        ("/api/notifications/?unread=true", "notifier"),
        ("/api/notifications/unread-count/", "notifier"),
    ],
)
def test_public_routes_reach_their_service_unchanged(
    gateway: Gateway, path: str, upstream: str
) -> None:
    response = httpx.get(gateway.base_url + path)
    assert response.status_code == 200
    assert response.json() == {"upstream": upstream, "path": path}


def test_the_client_address_is_passed_on(gateway: Gateway) -> None:
    httpx.get(gateway.base_url + "/api/projects/", headers={"X-Forwarded-For": "203.0.113.9"})
    headers = gateway.tickets.seen[-1]["headers"]
    assert headers["X-Real-IP"] == "127.0.0.1"
    assert headers["X-Forwarded-For"] == "203.0.113.9, 127.0.0.1"
    assert headers["X-Forwarded-Proto"] == "http"


@pytest.mark.parametrize(
    "path",
    [
        "/internal/notifications/1/?after_seq=0",
        "/internal/users/?after_id=0",
        "/api/notifications/../../internal/notifications/1/",
        "/api/notifications/%2e%2e/%2e%2e/internal/notifications/1/",
        "/api/notifications/..%2f..%2finternal/notifications/1/",
        "/metrics",
        "/api/ticketsx/",
        "/",
    ],
)
def test_internal_and_unknown_paths_answer_404_and_reach_nobody(
    gateway: Gateway, path: str
) -> None:
    before = len(gateway.all_paths())
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=5)
    connection.request("GET", path)  # sent as written: no client-side normalization
    response = connection.getresponse()
    body = json.loads(response.read())
    connection.close()
    assert response.status == 404
    assert body == {"detail": "Not found.", "code": "not_found"}
    assert len(gateway.all_paths()) == before


def test_a_too_large_body_gets_an_api_error(gateway: Gateway) -> None:
    response = httpx.post(gateway.base_url + "/api/tickets/", content=b"x" * (2 * 1024 * 1024))
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


def test_websockets_upgrade_spread_over_instances_and_keep_the_token_out_of_the_log(
    gateway: Gateway,
) -> None:
    url = f"ws://127.0.0.1:{gateway.port}/ws/notifications/?token={TOKEN}&since=3"
    with connect(url) as first, connect(url) as second:
        hellos = [json.loads(first.recv(timeout=5)), json.loads(second.recv(timeout=5))]
        # The query reaches the gateway instance intact (it authenticates with it).
        assert {hello["path"] for hello in hellos} == {f"/ws/notifications/?token={TOKEN}&since=3"}
        # least_conn: two open connections land on the two instances.
        assert sorted(hello["upstream"] for hello in hellos) == ["gw1", "gw2"]
        first.send('{"type":"ping","timestamp":1}')
        assert first.recv(timeout=5) == '{"type":"ping","timestamp":1}'
    httpx.get(gateway.base_url + f"/api/tickets/?token={TOKEN}")
    deadline = time.monotonic() + 5
    log = ""
    while time.monotonic() < deadline:
        log = gateway.access_log.read_text()
        if log.count("GET /ws/notifications/ HTTP/1.1") >= 2 and "GET /api/tickets/ " in log:
            break
        time.sleep(0.05)
    assert log.count('"GET /ws/notifications/ HTTP/1.1" 101') == 2
    assert '"GET /api/tickets/ HTTP/1.1" 200' in log
    assert TOKEN not in log
    assert "token=" not in log
    errors = (gateway.access_log.parent / "stderr.log").read_text()
    assert TOKEN not in errors


def test_an_unreachable_service_gets_an_api_error(gateway: Gateway) -> None:
    gateway.stop_notifier()
    response = httpx.get(gateway.base_url + "/api/notifications/")
    assert response.status_code == 503
    assert response.json() == {
        "detail": "The service is temporarily unavailable; try again shortly.",
        "code": "service_unavailable",
    }

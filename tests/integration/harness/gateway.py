"""Start ws-gateway instances as real processes, and small helpers to test them.

``start_gateway(infra, tickets_url, notifier_url, instance_id, **env)`` runs
``python -m incident_gateway`` on a free port and waits for /healthz. Extra keyword
arguments become ``GATEWAY_<NAME>`` variables (``presence_ttl_seconds=5`` ->
``GATEWAY_PRESENCE_TTL_SECONDS=5``); a name already in upper case is passed as it is.

``TokenMint`` and ``JwksServer`` stand in for the tickets service's keys where a test needs
tokens the real service would not issue (already expired, signed by a foreign key, a few
seconds long), and ``route_delivery`` appends an entry to a gateway's stream as the notifier
does.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from harness.infra import Infra, free_port, wait_for_port
from harness.processes import ServiceProcess
from incident_contracts.names import Names
from incident_contracts.tokens import DEFAULT_AUDIENCE, DEFAULT_ISSUER, JWKS_PATH

_METRIC_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$")


@dataclass
class RunningGateway:
    process: ServiceProcess
    port: int
    instance_id: str
    namespace: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        """The notifications endpoint, without a token."""
        return f"ws://127.0.0.1:{self.port}/ws/notifications/"

    @property
    def metrics_url(self) -> str:
        return f"{self.url}/metrics"

    def ws(self, token: str | None = None, since: int | None = None) -> str:
        params = []
        if token is not None:
            params.append(f"token={token}")
        if since is not None:
            params.append(f"since={since}")
        return self.ws_url + ("?" + "&".join(params) if params else "")

    def metrics(self) -> dict[str, float]:
        """The Prometheus samples, by name with labels (``name{label="v"}``)."""
        samples: dict[str, float] = {}
        for line in httpx.get(self.metrics_url, timeout=5.0).text.splitlines():
            match = _METRIC_LINE.match(line)
            if match and not line.startswith("#"):
                samples[match.group(1) + (match.group(2) or "")] = float(match.group(3))
        return samples

    def metric(self, name: str) -> float:
        return self.metrics().get(name, 0.0)

    def stop(self) -> int | None:
        return self.process.terminate()


def start_gateway(
    infra: Infra,
    tickets_url: str,
    notifier_url: str,
    instance_id: str,
    **env: object,
) -> RunningGateway:
    port = free_port()
    namespace = str(env.get("INCIDENT_NAMESPACE", infra.namespace))
    variables = {
        "REDIS_URL": infra.redis_url,
        "INCIDENT_NAMESPACE": namespace,
        "TICKETS_URL": tickets_url,
        "NOTIFIER_URL": notifier_url,
        "GATEWAY_PORT": str(port),
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_INSTANCE_ID": instance_id,
        # Small and quick for tests; the defaults suit production.
        "GATEWAY_SWEEP_INTERVAL_SECONDS": "0.2",
        "GATEWAY_PING_INTERVAL_SECONDS": "5",
        "GATEWAY_PING_TIMEOUT_SECONDS": "5",
        "GATEWAY_CLOSE_TIMEOUT_SECONDS": "2",
    }
    for name, value in env.items():
        key = name if name.isupper() else f"GATEWAY_{name.upper()}"
        variables[key] = str(value)
    process = ServiceProcess(
        f"gateway-{instance_id}",
        ["-m", "incident_gateway"],
        env=variables,
        health_url=f"http://127.0.0.1:{port}/healthz",
    ).start()
    return RunningGateway(process, port, instance_id, namespace)


# --- tokens without the tickets service -------------------------------------------------
class TokenMint:
    """An Ed25519 key pair that signs access tokens the way the tickets service does."""

    def __init__(self, kid: str | None = None) -> None:
        self.kid = kid or f"test-{uuid.uuid4().hex[:8]}"
        self._private = Ed25519PrivateKey.generate()

    @property
    def jwks(self) -> dict[str, Any]:
        public: dict[str, Any] = OKPAlgorithm.to_jwk(self._private.public_key(), as_dict=True)
        return {"keys": [{**public, "kid": self.kid, "alg": "EdDSA", "use": "sig"}]}

    def access(
        self,
        user_id: int,
        *,
        lifetime: float = 300.0,
        issued_at: float | None = None,
        username: str | None = None,
        role: str = "ADMIN",
    ) -> str:
        now = int(issued_at if issued_at is not None else time.time())
        claims = {
            "sub": str(user_id),
            "typ": "access",
            "role": role,
            "username": username or f"user{user_id}",
            "iss": DEFAULT_ISSUER,
            "aud": DEFAULT_AUDIENCE,
            "iat": now,
            "nbf": now,
            "exp": int(now + lifetime),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._private, algorithm="EdDSA", headers={"kid": self.kid})


class JwksServer:
    """A tiny HTTP server with the JWKS of some mints (what the gateway fetches)."""

    def __init__(self, *mints: TokenMint) -> None:
        keys = [key for mint in mints for key in mint.jwks["keys"]]
        body = json.dumps({"keys": keys}).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status = 200 if self.path == JWKS_PATH else 404
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body) if status == 200 else 0))
                self.end_headers()
                if status == 200:
                    self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @contextmanager
    def running(self) -> Iterator[JwksServer]:
        self._thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()


def route_delivery(
    redis_client: Any,
    namespace: str,
    instance_id: str,
    user_id: int,
    seq: int,
    frame: str,
) -> None:
    """XADD one delivery to an instance's stream, as the notifier does."""
    redis_client.xadd(
        Names(namespace).gateway_stream(instance_id),
        {"u": str(user_id), "s": str(seq), "n": frame, "t": str(int(time.time() * 1000))},
        maxlen=10_000,
        approximate=True,
    )


def presence_of(redis_client: Any, namespace: str, user_id: int) -> dict[str, float]:
    """The instances registered for a user, with their expiry (unix ms)."""
    members = redis_client.zrange(Names(namespace).presence_key(user_id), 0, -1, withscores=True)
    return {
        (member.decode() if isinstance(member, bytes) else member): score
        for member, score in members
    }


class PrivateRedis:
    """A redis-server of a test's own on a free port, to restart without disturbing others.

    Started with no persistence, so a restart forgets everything, as a crashed Redis does.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> PrivateRedis:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not on PATH; this test runs a Redis of its own")
        self._process = subprocess.Popen(
            [
                *(binary, "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--protected-mode", "no"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port("127.0.0.1", self.port, timeout=20)
        return self

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(10)
        self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    @contextmanager
    def running(self) -> Iterator[PrivateRedis]:
        self.start()
        try:
            yield self
        finally:
            self.stop()

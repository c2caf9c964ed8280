"""The system under test: a `make stack` started for the run, or one given by ``--base``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench.suite.common import ROOT

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass
class Target:
    base_url: str
    admin_username: str
    admin_password: str
    # From the stack's ready file (absent with a bare --base): where the metrics are, and pids.
    tickets_url: str | None = None
    consumer_url: str | None = None
    gateway_urls: list[str] = field(default_factory=list)
    pids: dict[str, int] = field(default_factory=dict)

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http", "ws", 1) + "/ws/notifications/"

    @classmethod
    def from_ready(cls, info: dict[str, Any], password: str) -> Target:
        return cls(
            base_url=info["base_url"],
            admin_username=info["admin_username"],
            admin_password=password,
            tickets_url=info["tickets_url"],
            consumer_url=info["consumer_url"],
            gateway_urls=[gateway["url"] for gateway in info["gateways"]],
            pids=dict(info["pids"]),
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _drop_databases(prefix: str) -> None:
    import asyncpg

    parts = urlsplit(os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    connection = await asyncpg.connect(admin)
    try:
        for service in ("tickets", "notifier"):
            await connection.execute(f'DROP DATABASE IF EXISTS "{prefix}{service}" WITH (FORCE)')
    finally:
        await connection.close()


@contextlib.contextmanager
def started_stack(log_path: Path) -> Iterator[Target]:
    """scripts/stack.py on free ports with a namespace and databases of its own, stopped after.

    Password hashing is made cheap for this stack (provisioning 225 users and logging them in
    is not what is measured), and access tokens last an hour so no connection expires mid-run.
    """
    run_id = f"bench{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(12)
    ready = Path(tempfile.gettempdir()) / f"{run_id}-ready.json"
    env = {
        **os.environ,
        "BOOTSTRAP_ADMIN_USERNAME": "admin",
        "BOOTSTRAP_ADMIN_PASSWORD": password,
        "TICKETS_ARGON2_TIME_COST": "1",
        "TICKETS_ARGON2_MEMORY_COST_KIB": "8192",
        "TICKETS_ARGON2_PARALLELISM": "1",
        "TICKETS_ACCESS_TOKEN_TTL_SECONDS": "3600",
    }
    command = [
        sys.executable,
        str(ROOT / "scripts" / "stack.py"),
        "--port",
        str(_free_port()),
        "--free-ports",
        "--namespace",
        run_id,
        "--database-prefix",
        f"{run_id}_",
        "--state-dir",
        str(Path(tempfile.gettempdir()) / f"{run_id}-state"),
        "--ready-file",
        str(ready),
    ]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + 120
            while not ready.exists():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the stack did not start; see {log_path}")
                time.sleep(0.2)
            info = json.loads(ready.read_text())
            if not info.get("base_url"):
                raise RuntimeError("the stack started without nginx: no base URL")
            yield Target.from_ready(info, password)
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=90)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            with contextlib.suppress(Exception):
                asyncio.run(_drop_databases(f"{run_id}_"))

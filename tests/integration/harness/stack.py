"""Run `make stack` (scripts/stack.py) for a test: every real process behind nginx.

``running_stack(infra, tmp_path)`` starts the stack on free ports, in the run's namespace,
with fresh databases, and yields a ``RunningStack`` once the script reports it ready (the
``--ready-file`` JSON: base URL, the services' own URLs, the gateway instance ids). On exit
it sends SIGTERM to the script, which stops what it started; the whole output of the stack
(every process, prefixed by name) is in ``test-artifacts/logs/stack-<n>.log``.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.infra import Infra, free_port
from harness.processes import ARTIFACTS

ROOT = Path(__file__).resolve().parents[3]
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "stack-admin-password"
STARTUP_TIMEOUT = 120.0
_runs = itertools.count(1)


@dataclass
class RunningStack:
    process: subprocess.Popen[bytes]
    info: dict[str, Any]
    log_path: Path
    namespace: str
    admin_username: str = ADMIN_USERNAME
    admin_password: str = ADMIN_PASSWORD

    @property
    def base_url(self) -> str:
        url: str = self.info["base_url"]
        return url

    @property
    def notifier_url(self) -> str:
        url: str = self.info["notifier_url"]
        return url

    @property
    def tickets_url(self) -> str:
        url: str = self.info["tickets_url"]
        return url

    @property
    def gateway_instance_ids(self) -> list[str]:
        return [gateway["instance_id"] for gateway in self.info["gateways"]]

    def ws_url(self, token: str, since: int | None = None) -> str:
        url = self.base_url.replace("http://", "ws://", 1) + f"/ws/notifications/?token={token}"
        return url if since is None else f"{url}&since={since}"

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def lines_of(self, name: str) -> list[str]:
        """The output lines of one process of the stack (``nginx``, ``tickets``, ...)."""
        prefix = f"{name:<18}| "
        return [
            line[len(prefix) :] for line in self.output().splitlines() if line.startswith(prefix)
        ]


@contextmanager
def running_stack(infra: Infra, state_dir: Path, **env: str) -> Iterator[RunningStack]:
    run = next(_runs)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log_path = ARTIFACTS / f"stack-{infra.run_id}-{run}.log"
    ready_file = state_dir / "ready.json"
    namespace = f"{infra.namespace}st{run}"
    environment = {
        **os.environ,
        "DATABASE_URL": infra.database_url,
        "TICKETS_DATABASE_URL": infra.create_database("stack_tickets"),
        "NOTIFIER_DATABASE_URL": infra.create_database("stack_notifier"),
        "AMQP_URL": infra.amqp_url,
        "REDIS_URL": infra.redis_url,
        "BOOTSTRAP_ADMIN_USERNAME": ADMIN_USERNAME,
        "BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
        # Cheap password hashing: the tests log in often, and hashing is not under test here.
        "TICKETS_ARGON2_TIME_COST": "1",
        "TICKETS_ARGON2_MEMORY_COST_KIB": "64",
        "TICKETS_ARGON2_PARALLELISM": "1",
        **env,
    }
    command = [
        sys.executable,
        str(ROOT / "scripts" / "stack.py"),
        "--port",
        str(free_port()),
        "--free-ports",
        "--namespace",
        namespace,
        "--state-dir",
        str(state_dir),
        "--ready-file",
        str(ready_file),
    ]
    with log_path.open("wb") as log:
        # A session of its own: the fallback below can end the script and all it started.
        process = subprocess.Popen(
            command, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        info = _wait_ready(process, ready_file, log_path)
        yield RunningStack(process, info, log_path, namespace)
    finally:
        _stop(process)


def _wait_ready(process: subprocess.Popen[bytes], ready_file: Path, log_path: Path) -> Any:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not ready_file.exists():
        if process.poll() is not None:
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-40:])
            raise RuntimeError(f"the stack exited with {process.returncode}:\n{tail}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"the stack was not ready after {STARTUP_TIMEOUT:.0f} s")
        time.sleep(0.2)
    return json.loads(ready_file.read_text())


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(90)
            return
        except subprocess.TimeoutExpired:
            pass
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)

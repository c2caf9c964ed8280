"""Start the embedded dev mode (``python -m incident_devmode``) as a real process.

By default it runs as ``make run`` does on a fresh machine: SQLite files in ``data_dir`` and
the in-process stand-ins for RabbitMQ and Redis, whatever servers the test run itself uses
(the shared ``AMQP_URL``, ``REDIS_URL`` and ``DATABASE_URL`` are blanked). Pass them in
``extra_env`` to run it against the real servers instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from harness.api import TicketsApi
from harness.infra import free_port
from harness.processes import ServiceProcess

DEMO_PASSWORDS = {
    "admin": "admin-demo",
    "alice": "alice-demo",
    "bob": "bob-demo",
    "carol": "carol-demo",
    "dave": "dave-demo",
}
"""The demo users the dev mode creates on first start (its banner prints the same)."""

_IN_PROCESS = {
    "AMQP_URL": "",
    "REDIS_URL": "",
    "DATABASE_URL": "",
    "TICKETS_DATABASE_URL": "",
    "NOTIFIER_DATABASE_URL": "",
    "BOOTSTRAP_ADMIN_USERNAME": "",
    "BOOTSTRAP_ADMIN_PASSWORD": "",
}


@dataclass
class RunningDevMode:
    url: str
    port: int
    data_dir: Path
    process: ServiceProcess

    def ws_url(self, *, token: str | None = None, since: int | None = None) -> str:
        query: dict[str, str | int] = {}
        if token is not None:
            query["token"] = token
        if since is not None:
            query["since"] = since
        suffix = f"?{urlencode(query)}" if query else ""
        return f"ws://127.0.0.1:{self.port}/ws/notifications/{suffix}"

    def api(self) -> TicketsApi:
        return TicketsApi(self.url)

    def login_as(self, username: str) -> TicketsApi:
        """A caller holding the demo user's access token (``.user`` is their user JSON)."""
        return TicketsApi(self.url).login_as(username, DEMO_PASSWORDS[username])

    def log(self) -> str:
        return self.process.log_text()

    def stop(self) -> int | None:
        return self.process.terminate()


def start_devmode(
    data_dir: Path, *, name: str = "devmode", port: int | None = None, **extra_env: str
) -> RunningDevMode:
    """Start the dev mode and wait until /healthz answers (the banner is printed by then)."""
    port = port or free_port()
    env = {
        **_IN_PROCESS,
        "DEVMODE_PORT": str(port),
        "DEVMODE_HOST": "127.0.0.1",
        "DEVMODE_DATA_DIR": str(data_dir),
        "DEVMODE_LOG_LEVEL": "INFO",
        **extra_env,
    }
    url = f"http://127.0.0.1:{port}"
    process = ServiceProcess(
        name,
        ["-m", "incident_devmode"],
        env=env,
        health_url=f"{url}/healthz",
        startup_timeout=30.0,
    )
    process.start()
    return RunningDevMode(url=url, port=port, data_dir=data_dir, process=process)

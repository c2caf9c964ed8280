"""`make stack`: the distributed mode on one machine, with real processes.

Starts tickets (API + embedded outbox relay), the notifier's API and consumer, two ws-gateway
instances, and nginx as the API gateway (rendered from deploy/gateway/incident.conf.template,
the template docker-compose uses), against the PostgreSQL, RabbitMQ and Redis named by
DATABASE_URL, AMQP_URL and REDIS_URL (defaults: the servers on 127.0.0.1). Every process's
output goes to this one stream, each line prefixed by the process's name. Ctrl-C (SIGINT) or
SIGTERM stops, in reverse order, the processes this script started, and only those.

Databases: TICKETS_DATABASE_URL / NOTIFIER_DATABASE_URL when set, else the databases
``<prefix>tickets`` and ``<prefix>notifier`` on the server of DATABASE_URL, created when
missing. The JWT signing key is generated once into the state directory.

    python scripts/stack.py                      # nginx on 8080, services on 8001-8004, 8012
    python scripts/stack.py --port 9000 --free-ports --namespace try1 --ready-file ready.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from stack_nginx import install_nginx, prepare_nginx
from stack_processes import Log, Managed, wait_healthy

ROOT = Path(__file__).resolve().parents[1]

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
FIXED_PORTS = {"tickets": 8001, "notifier": 8002, "notifier-consumer": 8012}
FIXED_GATEWAY_PORTS = (8003, 8004)
STOP_TIMEOUT = 25.0


# --- configuration -------------------------------------------------------------------------
@dataclass(frozen=True)
class Ports:
    gateway: int
    tickets: int
    notifier: int
    consumer: int
    ws_gateways: tuple[int, ...]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def choose_ports(gateway: int, free: bool) -> Ports:
    if free:
        return Ports(gateway, free_port(), free_port(), free_port(), (free_port(), free_port()))
    return Ports(
        gateway,
        FIXED_PORTS["tickets"],
        FIXED_PORTS["notifier"],
        FIXED_PORTS["notifier-consumer"],
        FIXED_GATEWAY_PORTS,
    )


def database_url_for(env: Mapping[str, str], service: str, prefix: str) -> str:
    explicit = env.get(f"{service.upper()}_DATABASE_URL")
    if explicit:
        return explicit
    parts = urlsplit(env.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    return urlunsplit(parts._replace(path=f"/{prefix}{service}"))


async def _create_database(url: str) -> bool:
    import asyncpg  # the venv's driver; imported here so `--help` needs nothing installed

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    connection = await asyncpg.connect(admin)
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return False
        quoted = name.replace('"', '""')
        await connection.execute(f'CREATE DATABASE "{quoted}"')
        return True
    finally:
        await connection.close()


def ensure_database(url: str, say: Log) -> None:
    if not url.startswith(("postgresql://", "postgres://", "postgresql+asyncpg://")):
        return
    if asyncio.run(_create_database(url)):
        say("stack", f"created database {urlsplit(url).path.lstrip('/')}")


def ensure_signing_key(state: Path) -> Path:
    """An Ed25519 key made once and kept, so tokens survive a restart of the stack."""
    path = state / "jwt-ed25519.pem"
    if not path.exists():
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pem)
    return path


# --- the stack -----------------------------------------------------------------------------
@dataclass
class StackConfig:
    ports: Ports
    namespace: str
    state: Path
    env: dict[str, str]
    tickets_db: str
    notifier_db: str
    admin_username: str
    admin_password: str


def build_config(args: argparse.Namespace) -> StackConfig:
    env = dict(os.environ)
    ports = choose_ports(args.port, args.free_ports)
    busy = [
        p
        for p in (ports.gateway, ports.tickets, ports.notifier, ports.consumer, *ports.ws_gateways)
        if port_in_use(p)
    ]
    if busy:
        raise RuntimeError(
            f"ports already in use: {', '.join(map(str, busy))} (stop what holds them, "
            "or run with --free-ports and/or --port N)"
        )
    state = Path(args.state_dir).resolve()
    state.mkdir(parents=True, exist_ok=True)
    return StackConfig(
        ports=ports,
        namespace=args.namespace,
        state=state,
        env=env,
        tickets_db=database_url_for(env, "tickets", args.database_prefix),
        notifier_db=database_url_for(env, "notifier", args.database_prefix),
        admin_username=env.get("BOOTSTRAP_ADMIN_USERNAME") or "admin",
        admin_password=env.get("BOOTSTRAP_ADMIN_PASSWORD") or "admin",
    )


def service_processes(config: StackConfig) -> list[Managed]:
    ports = config.ports
    tickets_url = f"http://127.0.0.1:{ports.tickets}"
    notifier_url = f"http://127.0.0.1:{ports.notifier}"
    shared = {
        **config.env,
        "AMQP_URL": config.env.get("AMQP_URL") or DEFAULT_AMQP_URL,
        "REDIS_URL": config.env.get("REDIS_URL") or DEFAULT_REDIS_URL,
        "INCIDENT_NAMESPACE": config.namespace,
        "TICKETS_URL": tickets_url,
        "NOTIFIER_URL": notifier_url,
        "PYTHONUNBUFFERED": "1",
    }
    python = sys.executable
    tickets = Managed(
        "tickets",
        [python, "-m", "incident_tickets", "api"],
        {
            **shared,
            "TICKETS_HOST": "127.0.0.1",
            "TICKETS_PORT": str(ports.tickets),
            "TICKETS_DATABASE_URL": config.tickets_db,
            "TICKETS_JWT_PRIVATE_KEY_FILE": str(ensure_signing_key(config.state)),
            "BOOTSTRAP_ADMIN_USERNAME": config.admin_username,
            "BOOTSTRAP_ADMIN_PASSWORD": config.admin_password,
        },
        f"{tickets_url}/healthz",
    )
    notifier_env = {
        **shared,
        "NOTIFIER_HOST": "127.0.0.1",
        "NOTIFIER_PORT": str(ports.notifier),
        "NOTIFIER_CONSUMER_PORT": str(ports.consumer),
        "NOTIFIER_DATABASE_URL": config.notifier_db,
    }
    notifier = Managed(
        "notifier",
        [python, "-m", "incident_notifier", "api"],
        notifier_env,
        f"{notifier_url}/healthz",
    )
    # The API has applied the migrations by the time it is healthy; the consumer skips them.
    consumer = Managed(
        "notifier-consumer",
        [python, "-m", "incident_notifier", "consumer"],
        {**notifier_env, "NOTIFIER_MIGRATE_ON_START": "false"},
        f"http://127.0.0.1:{ports.consumer}/healthz",
    )
    gateways = [
        Managed(
            f"ws-gateway-{index}",
            [python, "-m", "incident_gateway"],
            {
                **shared,
                "GATEWAY_HOST": "127.0.0.1",
                "GATEWAY_PORT": str(port),
                "GATEWAY_INSTANCE_ID": f"{config.namespace}-ws-gateway-{index}",
            },
            f"http://127.0.0.1:{port}/healthz",
            extra={"instance_id": f"{config.namespace}-ws-gateway-{index}", "port": str(port)},
        )
        for index, port in enumerate(ports.ws_gateways, start=1)
    ]
    return [tickets, notifier, consumer, *gateways]


def run(args: argparse.Namespace) -> int:
    log = Log(sys.stdout)
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        log("stack", f"{signal.Signals(signum).name}: stopping")
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    started: list[Managed] = []
    code = 0
    home: str | None = None
    try:
        config = build_config(args)
        ensure_database(config.tickets_db, log)
        ensure_database(config.notifier_db, log)
        nginx = install_nginx(log)
        plan = service_processes(config)
        # tickets first (the others fetch its JWKS and users), then the notifier, the
        # gateways (they replay through the notifier) and the public gateway last.
        for group in (plan[:1], plan[1:3], plan[3:]):
            for service in group:
                if stop.is_set():
                    break
                service.start(log)
                started.append(service)
            for service in group:
                wait_healthy(service, stop)
        if nginx and not stop.is_set():
            plan_nginx = prepare_nginx(
                nginx,
                config.ports.gateway,
                [f"127.0.0.1:{config.ports.tickets}"],
                [f"127.0.0.1:{config.ports.notifier}"],
                [f"127.0.0.1:{port}" for port in config.ports.ws_gateways],
            )
            home = str(plan_nginx.home)
            proxy = Managed("nginx", plan_nginx.argv, dict(config.env), plan_nginx.health_url)
            proxy.start(log)
            started.append(proxy)
            wait_healthy(proxy, stop)
        if not stop.is_set():
            announce(config, started, nginx is not None, log, args.ready_file)
        while not stop.is_set():
            for service in started:
                exit_code = service.exited()
                if exit_code is not None:
                    log("stack", f"{service.name} exited with code {exit_code}; stopping the rest")
                    code = 1
                    stop.set()
                    break
            stop.wait(0.5)
    except (RuntimeError, OSError) as error:
        log("stack", f"error: {error}")
        code = 1
    finally:
        shutdown(started, log)
        if home:
            shutil.rmtree(home, ignore_errors=True)
        if args.ready_file:
            with contextlib.suppress(FileNotFoundError):
                Path(args.ready_file).unlink()
    return code


def shutdown(started: list[Managed], log: Log) -> None:
    """SIGTERM in reverse start order, each given time to drain (gateways close with 1012)."""
    for service in reversed(started):
        if service.exited() is None:
            service.stop()
            result = service.wait_stopped(time.monotonic() + STOP_TIMEOUT)
            log("stack", f"{service.name} stopped ({result})")
    for service in started:
        if service.reader is not None:
            service.reader.join(timeout=2)


def announce(
    config: StackConfig, started: list[Managed], with_nginx: bool, log: Log, ready_file: str | None
) -> None:
    ports = config.ports
    base = f"http://127.0.0.1:{ports.gateway}" if with_nginx else None
    info = {
        "base_url": base,
        "namespace": config.namespace,
        "tickets_url": f"http://127.0.0.1:{ports.tickets}",
        "notifier_url": f"http://127.0.0.1:{ports.notifier}",
        "consumer_url": f"http://127.0.0.1:{ports.consumer}",
        "gateways": [
            {"instance_id": s.extra["instance_id"], "url": f"http://127.0.0.1:{s.extra['port']}"}
            for s in started
            if "instance_id" in s.extra
        ],
        "pids": {s.name: s.process.pid for s in started if s.process is not None},
        "admin_username": config.admin_username,
    }
    if base:
        log("stack", f"ready: {base} (WebSocket {base.replace('http', 'ws', 1)}/ws/notifications/)")
    else:
        log(
            "stack",
            f"ready without nginx: tickets {info['tickets_url']}, notifier {info['notifier_url']}",
        )
    log(
        "stack",
        f"bootstrap admin: {config.admin_username} "
        "(password: BOOTSTRAP_ADMIN_PASSWORD, default 'admin')",
    )
    log("stack", "Ctrl-C stops everything started here")
    if ready_file:
        target = Path(ready_file)
        partial = target.with_suffix(f".{secrets.token_hex(3)}.tmp")
        partial.write_text(json.dumps(info, indent=2))
        partial.replace(target)  # atomic: a reader never sees half a file


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/stack.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("STACK_PORT", "8080")),
        help="nginx's port (env STACK_PORT, default 8080)",
    )
    parser.add_argument(
        "--free-ports",
        action="store_true",
        help="services on free ports instead of 8001-8004 and 8012",
    )
    parser.add_argument(
        "--namespace",
        default=os.environ.get("INCIDENT_NAMESPACE", "incident"),
        help="exchange/queue/Redis key prefix (env INCIDENT_NAMESPACE, default incident)",
    )
    parser.add_argument(
        "--database-prefix",
        default=os.environ.get("STACK_DATABASE_PREFIX", "incident_"),
        help="per-service database names when TICKETS_/NOTIFIER_DATABASE_URL are unset",
    )
    parser.add_argument(
        "--state-dir",
        default=str(ROOT / ".data" / "stack"),
        help="where the signing key is kept (default .data/stack)",
    )
    parser.add_argument(
        "--ready-file", help="write the stack's URLs and pids as JSON here once it is ready"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())

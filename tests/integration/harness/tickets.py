"""Start the tickets service as a real process for a test run (``start_tickets``).

Each call gets a fresh PostgreSQL database unless ``database_url`` is given (a replica of
another instance: pass its ``database_url`` and ``private_key_pem``), the run's namespace,
the run's broker, cheap Argon2 parameters, and a bootstrap admin.
"""

from __future__ import annotations

import itertools
import tempfile
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness.infra import Infra, free_port
from harness.processes import ServiceProcess

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "admin-password"
_instances = itertools.count(1)


def new_private_key_pem() -> str:
    return (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


@dataclass
class RunningTickets:
    url: str
    process: ServiceProcess
    database_url: str
    private_key_pem: str
    env: dict[str, str]
    admin_username: str = ADMIN_USERNAME
    admin_password: str = ADMIN_PASSWORD
    replicas: list[RunningTickets] = field(default_factory=list)

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/.well-known/jwks.json"

    def stop(self) -> None:
        for replica in self.replicas:
            replica.stop()
        self.process.terminate()


def start_tickets(
    infra: Infra,
    *,
    database_url: str | None = None,
    private_key_pem: str | None = None,
    name: str | None = None,
    **extra_env: str,
) -> RunningTickets:
    """Start ``python -m incident_tickets api`` (relay embedded) and wait until /healthz answers.

    ``extra_env`` overrides any variable, e.g. ``TICKETS_RELAY_SWEEP_INTERVAL="0.05"``.
    """
    port = free_port()
    database_url = database_url or infra.create_database("tickets")
    private_key_pem = private_key_pem or new_private_key_pem()
    env = {
        "DATABASE_URL": database_url,
        "AMQP_URL": infra.amqp_url,
        "REDIS_URL": infra.redis_url,
        "INCIDENT_NAMESPACE": infra.namespace,
        "TICKETS_HOST": "127.0.0.1",
        "TICKETS_PORT": str(port),
        "TICKETS_DATA_DIR": tempfile.mkdtemp(prefix="tickets-data-"),
        "TICKETS_JWT_PRIVATE_KEY": private_key_pem,
        "TICKETS_ARGON2_TIME_COST": "1",
        "TICKETS_ARGON2_MEMORY_COST_KIB": "64",
        "TICKETS_ARGON2_PARALLELISM": "1",
        "TICKETS_RELAY_BACKOFF_MAX": "1.0",
        "BOOTSTRAP_ADMIN_USERNAME": ADMIN_USERNAME,
        "BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
        **extra_env,
    }
    url = f"http://127.0.0.1:{port}"
    process = ServiceProcess(
        name or f"tickets-{infra.run_id}-{next(_instances)}",
        ["-m", "incident_tickets", "api"],
        env=env,
        health_url=f"{url}/healthz",
    ).start()
    return RunningTickets(url, process, database_url, private_key_pem, env)


def start_replica(primary: RunningTickets, infra: Infra, **extra_env: str) -> RunningTickets:
    """A second process on the same database with the same signing key."""
    replica = start_tickets(
        infra,
        database_url=primary.database_url,
        private_key_pem=primary.private_key_pem,
        **extra_env,
    )
    primary.replicas.append(replica)
    return replica

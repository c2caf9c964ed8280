"""The tickets service's settings: ``TICKETS_*`` variables, plus the shared ones.

Shared (documented once in the README): ``DATABASE_URL`` (fallback for
``TICKETS_DATABASE_URL``), ``AMQP_URL``, ``INCIDENT_NAMESPACE``, ``JWT_ISSUER``, ``JWT_AUDIENCE``,
``BOOTSTRAP_ADMIN_USERNAME``, ``BOOTSTRAP_ADMIN_PASSWORD``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from incident_contracts.tokens import DEFAULT_AUDIENCE, DEFAULT_ISSUER


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TICKETS_",
        extra="ignore",
        validate_by_name=True,
        validate_by_alias=True,
        env_ignore_empty=True,
    )

    host: str = "127.0.0.1"
    """Interface the API (and the standalone relay's probes) listen on (`0.0.0.0` in
    containers)."""
    port: int = 8001
    """Port of the tickets API."""
    log_level: str = "INFO"
    """Log level (`DEBUG`, `INFO`, `WARNING`, ...); one line per record on stderr."""
    data_dir: Path = Path("data")
    """Where the SQLite file and a generated signing key live when nothing else is configured."""

    database_url: str | None = Field(
        default=None, validation_alias=_env("TICKETS_DATABASE_URL", "DATABASE_URL")
    )
    migrate_on_start: bool = True
    """Apply the Alembic migrations at start (replicas take turns); `migrate` does it alone."""
    db_pool_size: int = 10
    """Connections kept for requests, and the most they use: a request past them waits for
    one. The relay has two of its own."""

    amqp_url: str = Field(
        default="amqp://guest:guest@127.0.0.1:5672/",
        validation_alias=_env("TICKETS_AMQP_URL", "AMQP_URL"),
    )
    namespace: str = Field(default="incident", validation_alias="INCIDENT_NAMESPACE")

    embedded_relay: bool = True
    """Run the outbox relay inside the API process (``python -m incident_tickets api``)."""
    relay_sweep_interval: float = 1.0
    """Seconds between sweeps of the outbox: the fallback when no commit wakes the relay."""
    relay_listen: bool = True
    """On PostgreSQL, commits NOTIFY and relays LISTEN, so a relay in another process is woken
    at commit as well (the sweep remains the fallback)."""
    relay_lease: bool = True
    """On PostgreSQL, one relay at a time publishes (an advisory lock; the others take over
    within a sweep when it ends); off, every replica's relay competes for the rows, each
    still published once and in order."""
    relay_port: int = 8011
    """Health, readiness and metrics of the standalone relay (``python -m incident_tickets
    relay``)."""
    relay_batch_size: int = 200
    """Outbox rows claimed and published (pipelined) per relay transaction."""
    relay_backoff_initial: float = 0.2
    """Seconds before the relay's first reconnection attempt when RabbitMQ is unreachable."""
    relay_backoff_max: float = 5.0
    """Longest wait between reconnection attempts (the backoff doubles up to it)."""
    outbox_retention_hours: int = Field(default=7 * 24, ge=0)
    """Hours a sent outbox row is kept before the relay deletes it (every 10 minutes, 1,000
    rows per statement); unsent rows are never deleted. 0 keeps every row forever."""

    jwt_issuer: str = Field(default=DEFAULT_ISSUER, validation_alias="JWT_ISSUER")
    jwt_audience: str = Field(default=DEFAULT_AUDIENCE, validation_alias="JWT_AUDIENCE")
    jwt_private_key: SecretStr | None = None
    """An Ed25519 private key in PEM; else ``jwt_private_key_file``; else one generated once."""
    jwt_private_key_file: Path | None = None
    """A file holding the Ed25519 private key in PEM (used when the key itself is not set)."""
    access_token_ttl_seconds: int = 15 * 60
    """Lifetime of access tokens."""
    refresh_token_ttl_seconds: int = 7 * 24 * 3600
    """Lifetime of refresh tokens (each is usable once: refreshing rotates it)."""
    user_cache_seconds: float = Field(default=60.0, ge=0)
    """PostgreSQL: how long an authenticated user may be reused by later requests without
    reading it again. Changes to users reach every process at once through LISTEN/NOTIFY;
    this only bounds a notification lost unnoticed. 0 reads the user on every request."""

    login_failures_per_username: int = 10
    """Failed logins of one username within the window before its logins are refused (429
    with Retry-After) until the oldest leaves the window; 0 disables. Counted per process."""
    login_failures_per_address: int = 50
    """Failed logins from one client address within the window before its logins are
    refused (429); 0 disables. The address is the peer's, or X-Forwarded-For's from a
    trusted proxy (`TICKETS_FORWARDED_ALLOW_IPS`)."""
    login_failure_window_seconds: float = 300.0
    """The sliding window of the two limits above."""
    forwarded_allow_ips: str = "127.0.0.1"
    """Comma-separated proxy addresses or networks whose X-Forwarded-For is believed: the
    client is its rightmost address outside them (the address the login limit counts).
    Avoid `*`: uvicorn then takes the leftmost entry, which a client can write itself."""

    max_body_bytes: int = 64 * 1024
    """Largest request body accepted; a larger one is refused with 413 before it is read."""
    cors_allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Comma-separated origins that browsers may call the API from (CORS); empty: none, the
    API is same-origin only (behind the gateway). ``*`` allows any."""

    argon2_time_cost: int = 3
    """Argon2id iterations per password hash (lower it only for tests)."""
    argon2_memory_cost_kib: int = 65536
    """Argon2id memory per password hash, in KiB."""
    argon2_parallelism: int = 4
    """Argon2id lanes per password hash."""

    bootstrap_admin_username: str | None = Field(
        default=None, validation_alias="BOOTSTRAP_ADMIN_USERNAME"
    )
    bootstrap_admin_password: SecretStr | None = Field(
        default=None, validation_alias="BOOTSTRAP_ADMIN_PASSWORD"
    )
    bootstrap_admin_full_name: str = "Administrator"
    """Full name given to the bootstrap admin when it is created."""

    @field_validator("cors_allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @property
    def generated_key_path(self) -> Path:
        return self.data_dir / "tickets-jwt-ed25519.pem"

"""The notifier's settings, read once from the environment in ``main()``/``create_app()``.

Shared variables (``AMQP_URL``, ``REDIS_URL``, ``INCIDENT_NAMESPACE``, ``TICKETS_URL``,
``JWT_ISSUER``, ``JWT_AUDIENCE``, ``DATABASE_URL``) keep their plain names; the notifier's own
carry the ``NOTIFIER_`` prefix. ``NOTIFIER_DATABASE_URL`` wins over ``DATABASE_URL``; with
neither, a SQLite file under ``./data/`` is used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from incident_contracts import Names
from incident_contracts.tokens import DEFAULT_AUDIENCE, DEFAULT_ISSUER, JWKS_PATH

SQLITE_DEFAULT = "sqlite+aiosqlite:///./data/notifier.db"


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


def async_database_url(url: str | None) -> str:
    """``postgresql://`` (what operators write) -> ``postgresql+asyncpg://`` (what we drive)."""
    if not url:
        return SQLITE_DEFAULT
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+asyncpg://" + url[len(plain) :]
    if url.startswith("sqlite://"):
        return "sqlite+aiosqlite://" + url[len("sqlite://") :]
    return url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=False, env_ignore_empty=True)

    database_url: str = Field(
        default=SQLITE_DEFAULT, validation_alias=_env("NOTIFIER_DATABASE_URL", "DATABASE_URL")
    )
    amqp_url: str = Field(
        default="amqp://guest:guest@127.0.0.1:5672/", validation_alias=_env("AMQP_URL")
    )
    redis_url: str = Field(default="redis://127.0.0.1:6379/0", validation_alias=_env("REDIS_URL"))
    namespace: str = Field(default="incident", validation_alias=_env("INCIDENT_NAMESPACE"))
    tickets_url: str = Field(default="http://127.0.0.1:8001", validation_alias=_env("TICKETS_URL"))
    jwt_issuer: str = Field(default=DEFAULT_ISSUER, validation_alias=_env("JWT_ISSUER"))
    jwt_audience: str = Field(default=DEFAULT_AUDIENCE, validation_alias=_env("JWT_AUDIENCE"))

    host: str = Field(default="127.0.0.1", validation_alias=_env("NOTIFIER_HOST"))
    port: int = Field(default=8002, validation_alias=_env("NOTIFIER_PORT"))
    consumer_port: int = Field(
        default=8012,
        validation_alias=_env("NOTIFIER_CONSUMER_PORT"),
        description="The consumer process's own /healthz, /readyz and /metrics.",
    )
    migrate_on_start: bool = Field(default=True, validation_alias=_env("NOTIFIER_MIGRATE_ON_START"))
    db_pool_size: int = Field(default=10, validation_alias=_env("NOTIFIER_DB_POOL_SIZE"))

    prefetch: int = Field(
        default=64,
        ge=1,
        validation_alias=_env("NOTIFIER_PREFETCH"),
        description="Unacknowledged messages the broker hands the consumer at once.",
    )
    batch_size: int = Field(
        default=32,
        ge=1,
        validation_alias=_env("NOTIFIER_BATCH_SIZE"),
        description="Most messages handled in one transaction (fewer when fewer wait).",
    )
    max_attempts: int = Field(
        default=5,
        ge=1,
        validation_alias=_env("NOTIFIER_MAX_ATTEMPTS"),
        description="Deliveries of a message that fails in processing before it is dead-lettered.",
    )
    directory_sync: bool = Field(
        default=True,
        validation_alias=_env("NOTIFIER_DIRECTORY_SYNC"),
        description="Fill an empty directory from the tickets service before consuming.",
    )
    directory_page_size: int = Field(
        default=500,
        validation_alias=_env("NOTIFIER_DIRECTORY_PAGE_SIZE"),
        description="Users fetched per request when the directory is filled at start.",
    )

    stream_maxlen: int = Field(
        default=10_000,
        validation_alias=_env("NOTIFIER_STREAM_MAXLEN"),
        description="Approximate length a gateway's delivery stream is trimmed to.",
    )
    stream_ttl_seconds: int = Field(
        default=3600,
        validation_alias=_env("NOTIFIER_STREAM_TTL_SECONDS"),
        description="A delivery stream no one writes to expires after this (dead gateways).",
    )
    redis_timeout_seconds: float = Field(
        default=0.5,
        validation_alias=_env("NOTIFIER_REDIS_TIMEOUT_SECONDS"),
        description="Redis calls give up after this, so a Redis outage never stalls records.",
    )
    shutdown_grace_seconds: float = Field(
        default=10.0,
        validation_alias=_env("NOTIFIER_SHUTDOWN_GRACE_SECONDS"),
        description="On SIGTERM, how long in-flight requests and batches may take to finish.",
    )
    processed_events_retention_hours: int = Field(
        default=7 * 24,
        ge=0,
        validation_alias=_env("NOTIFIER_PROCESSED_EVENTS_RETENTION_HOURS"),
        description="Hours an event's idempotency claim is kept before the consumer deletes "
        "it (every 10 minutes, 1,000 per statement; the records stay). Keep it far beyond "
        "any redelivery window (a broker or consumer outage, a replayed dead letter): an "
        "event delivered again after its claim was deleted would be recorded twice. "
        "0 keeps every claim forever.",
    )
    log_level: str = Field(default="INFO", validation_alias=_env("NOTIFIER_LOG_LEVEL"))
    cors_allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=_env("NOTIFIER_CORS_ALLOWED_ORIGINS"),
        description="Comma-separated origins that browsers may call the inbox API from "
        "(CORS); empty: none, same-origin only (behind the gateway). `*` allows any.",
    )

    @field_validator("cors_allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("database_url", mode="before")
    @classmethod
    def _async_driver(cls, value: str | None) -> str:
        return async_database_url(value)

    @property
    def names(self) -> Names:
        return Names(self.namespace)

    @property
    def jwks_url(self) -> str:
        return self.tickets_url.rstrip("/") + JWKS_PATH

    def sqlite_directory(self) -> Path | None:
        """Where the SQLite file lives, so it can be created; None for a server database."""
        prefix = "sqlite+aiosqlite:///"
        if not self.database_url.startswith(prefix):
            return None
        path = self.database_url[len(prefix) :]
        return None if path in ("", ":memory:") else Path(path).parent

"""The gateway's settings: ``GATEWAY_*`` variables, plus the shared ones of the system.

Shared (documented once, same name in every service): ``REDIS_URL``, ``INCIDENT_NAMESPACE``,
``TICKETS_URL`` (JWKS at ``/.well-known/jwks.json``), ``NOTIFIER_URL`` (internal replay),
``JWT_ISSUER``, ``JWT_AUDIENCE``. Built in ``bootstrap.main()``, never at import time.
"""

from __future__ import annotations

import secrets
import socket
from typing import Annotated

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from incident_contracts.names import Names
from incident_contracts.tokens import DEFAULT_AUDIENCE, DEFAULT_ISSUER, JWKS_PATH
from incident_gateway.domain.protocol import SessionLimits
from incident_gateway.service.gateway import GatewayLimits


def _shared(name: str) -> AliasChoices:
    return AliasChoices(f"GATEWAY_{name}", name)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", env_ignore_empty=True)

    host: str = "127.0.0.1"
    port: int = 8003
    instance_id: str = Field(
        default_factory=lambda: f"{socket.gethostname()}-{secrets.token_hex(4)}",
        description="Unique per running instance; generated when unset.",
    )
    redis_url: str = Field("redis://127.0.0.1:6379/0", validation_alias=_shared("REDIS_URL"))
    namespace: str = Field("incident", validation_alias=_shared("INCIDENT_NAMESPACE"))
    tickets_url: str = Field("http://127.0.0.1:8001", validation_alias=_shared("TICKETS_URL"))
    notifier_url: str = Field("http://127.0.0.1:8002", validation_alias=_shared("NOTIFIER_URL"))
    jwt_issuer: str = Field(DEFAULT_ISSUER, validation_alias=_shared("JWT_ISSUER"))
    jwt_audience: str = Field(DEFAULT_AUDIENCE, validation_alias=_shared("JWT_AUDIENCE"))
    jwt_leeway_seconds: float = 0.0
    """Clock skew tolerated when checking a token's exp and nbf."""

    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated; empty allows any Origin."
    )

    max_frame_bytes: int = 64 * 1024
    """Largest client frame; a larger one closes the connection with 1009."""
    max_frames_per_second: float = 20.0
    """Sustained client frames per second; a faster client is closed with 1008."""
    frame_burst: float = 40.0
    """Frames a client may send at once before the per-second rate applies."""
    ping_interval_seconds: float = 20.0
    """Protocol-level pings that find dead peers; 0 disables them."""
    ping_timeout_seconds: float = 20.0
    """How long a protocol-level ping may go unanswered before the peer is dropped."""
    close_timeout_seconds: float = 5.0
    """How long a closing handshake may take before the socket is cut."""
    max_queue: int = 4
    """Incoming frames buffered per connection before reading pauses (clients send little)."""
    write_limit_bytes: int = 16 * 1024
    """websockets' write buffer high-water mark per connection."""

    redis_max_connections: int = Field(64, ge=2)
    """Redis connections for handshakes and presence; a burst of handshakes waits for one."""
    redis_wait_seconds: float = 5.0
    """How long a handshake waits for a free Redis connection before Redis counts as down."""

    presence_ttl_seconds: float = 30.0
    """Lifetime of this instance's presence entries; a dead instance disappears after it."""
    heartbeat_interval_seconds: float = 10.0
    """How often presence is renewed for every local user (pipelined)."""
    sweep_interval_seconds: float = 0.5
    """How often token expiry, slow clients and Redis' memory of this instance are checked."""
    slow_client_bytes: int = 256 * 1024
    """A client with more than this written and unread is slow ..."""
    slow_client_seconds: float = 5.0
    """... and is disconnected (1013; it can resume) when it stays slow this long."""
    max_buffered_bytes: int = 4 * 1024 * 1024
    """A client with more than this unread is disconnected at once."""
    backlog_write_entries: int = Field(60_000, ge=0)
    """While the delivery stream has a backlog, frames of this many entries are written at
    once (one system call per connection instead of per frame); 0 writes every batch."""
    replay_page_size: int = 200
    """Records fetched per request from the notifier's replay endpoint."""
    max_held: int = 1000
    """Live deliveries held back during a replay before the client is told to come back."""

    log_level: str = "INFO"
    use_uvloop: bool = True
    """Run the event loop on uvloop."""

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @property
    def names(self) -> Names:
        return Names(self.namespace)

    @property
    def jwks_url(self) -> str:
        return self.tickets_url.rstrip("/") + JWKS_PATH

    def limits(self) -> GatewayLimits:
        return GatewayLimits(
            presence_ttl_seconds=self.presence_ttl_seconds,
            heartbeat_interval_seconds=self.heartbeat_interval_seconds,
            sweep_interval_seconds=self.sweep_interval_seconds,
            replay_page_size=self.replay_page_size,
            slow_client_bytes=self.slow_client_bytes,
            slow_client_seconds=self.slow_client_seconds,
            max_buffered_bytes=self.max_buffered_bytes,
            backlog_write_entries=self.backlog_write_entries,
            session=SessionLimits(
                frames_per_second=self.max_frames_per_second,
                burst=self.frame_burst,
                max_held=self.max_held,
            ),
        )

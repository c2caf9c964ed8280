"""The built service: its use cases and the adapters it must start, probe and close.

``bootstrap.build`` makes one; the entry points (the API, the standalone relay) run it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from incident_runtime import RetentionTimer
from incident_tickets.adapters.amqp_publisher import AmqpEventPublisher
from incident_tickets.adapters.jwt_tokens import SigningKey
from incident_tickets.adapters.pg_listener import PgListener
from incident_tickets.adapters.prometheus_metrics import TicketsMetrics
from incident_tickets.adapters.sql_database import migrate, ping
from incident_tickets.config import Settings
from incident_tickets.service.auth import AuthService
from incident_tickets.service.outbox_relay import OutboxRelay
from incident_tickets.service.ports import EventPublisher
from incident_tickets.service.projects import ProjectService
from incident_tickets.service.tickets import TicketService
from incident_tickets.service.users import UserService


@dataclass
class TicketsRuntime:
    settings: Settings
    engine: AsyncEngine
    relay_engine: AsyncEngine
    metrics: TicketsMetrics
    signing_key: SigningKey
    publisher: EventPublisher
    relay: OutboxRelay
    relay_enabled: bool
    auth: AuthService
    users: UserService
    projects: ProjectService
    tickets: TicketService
    listener: PgListener | None = None
    """PostgreSQL only: other processes' commits wake this process's relay, and their
    changes to users reach the authentication's cache."""
    bootstrap_admin: bool = True
    """False for the standalone relay, which serves no users."""
    outbox_retention: RetentionTimer | None = None
    """Deletes old sent outbox rows where the relay runs; None when retention is off."""

    async def start(self) -> None:
        if self.settings.migrate_on_start:
            await migrate(self.engine)
        if self.bootstrap_admin:
            await self.ensure_bootstrap_admin()
        if self.relay_enabled:
            self.relay.start()
            if self.outbox_retention is not None:
                self.outbox_retention.start()
        if self.listener is not None:
            self.listener.start()

    async def close(self) -> None:
        if self.listener is not None:
            await self.listener.stop()
        if self.relay_enabled:
            if self.outbox_retention is not None:
                await self.outbox_retention.stop()
            await self.relay.stop()
        await self.engine.dispose()
        await self.relay_engine.dispose()

    async def ensure_bootstrap_admin(self) -> None:
        name = self.settings.bootstrap_admin_username
        password = self.settings.bootstrap_admin_password
        if name and password:
            await self.users.ensure_admin(
                name, password.get_secret_value(), self.settings.bootstrap_admin_full_name
            )

    async def database_ready(self) -> None:
        await ping(self.engine)

    async def broker_ready(self) -> bool:
        if self.relay_enabled:
            return self.relay.connected
        if isinstance(self.publisher, AmqpEventPublisher):
            try:
                await self.publisher.ping()
            except Exception:
                return False
            return True
        return self.publisher.connected

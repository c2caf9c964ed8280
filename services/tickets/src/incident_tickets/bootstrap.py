"""The only place that wires adapters to use cases, from one ``Settings``.

Nothing connects at import time: ``build`` creates the engine and the publisher objects, and
``TicketsRuntime.start`` migrates, creates the bootstrap admin and starts the relay. The entry
points receive the built runtime (``__main__`` composes the two).
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from incident_contracts.names import Names
from incident_contracts.timestamps import utc_now
from incident_tickets.adapters.amqp_publisher import AmqpEventPublisher
from incident_tickets.adapters.argon2_hasher import Argon2PasswordHasher
from incident_tickets.adapters.jwt_tokens import JwtTokenIssuer, JwtTokenReader, SigningKey
from incident_tickets.adapters.pg_listener import PgListener, outbox_channel, users_channel
from incident_tickets.adapters.pg_relay_lease import PgRelayLease
from incident_tickets.adapters.prometheus_metrics import TicketsMetrics
from incident_tickets.adapters.sql_database import (
    async_database_url,
    create_engine,
    migrate,
)
from incident_tickets.adapters.sql_outbox import SqlOutboxStore
from incident_tickets.adapters.sql_unit_of_work import SqlUnitOfWorkFactory
from incident_tickets.config import Settings
from incident_tickets.domain.login_throttle import LoginThrottle
from incident_tickets.runtime import TicketsRuntime
from incident_tickets.service.active_users import ActiveUserCache
from incident_tickets.service.auth import AuthService
from incident_tickets.service.outbox_relay import OutboxRelay
from incident_tickets.service.outbox_retention import outbox_retention
from incident_tickets.service.ports import EventPublisher
from incident_tickets.service.projects import ProjectService
from incident_tickets.service.tickets import TicketService
from incident_tickets.service.users import UserService

log = logging.getLogger(__name__)


def build(
    settings: Settings,
    *,
    publisher: EventPublisher | None = None,
    relay_enabled: bool | None = None,
    standalone_relay: bool = False,
) -> TicketsRuntime:
    """Wire everything; ``publisher`` replaces RabbitMQ (the API tests pass a fake).

    ``standalone_relay``: the ``relay`` process role (a relay, no users served).
    """
    relay_enabled = True if standalone_relay else relay_enabled
    relay_enabled = settings.embedded_relay if relay_enabled is None else relay_enabled
    url = async_database_url(settings.database_url, settings.data_dir)
    engine = create_engine(url, pool_size=settings.db_pool_size)
    # The relay has connections of its own: under load it must not queue for the pool behind
    # the requests whose events it is about to publish.
    relay_engine = create_engine(url, pool_size=2)
    metrics = TicketsMetrics()
    key = SigningKey.load(
        settings.jwt_private_key.get_secret_value() if settings.jwt_private_key else None,
        settings.jwt_private_key_file,
        settings.generated_key_path,
    )
    publisher = publisher or AmqpEventPublisher(
        settings.amqp_url, Names(settings.namespace).events_exchange
    )
    outbox = SqlOutboxStore(relay_engine)
    postgres = engine.dialect.name == "postgresql"
    dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    lease = (
        PgRelayLease(dsn, f"{settings.namespace}.outbox-relay")
        if postgres and settings.relay_lease and relay_enabled
        else None
    )
    relay = OutboxRelay(
        outbox,
        publisher,
        metrics,
        sweep_interval=settings.relay_sweep_interval,
        batch_size=settings.relay_batch_size,
        backoff_initial=settings.relay_backoff_initial,
        backoff_max=settings.relay_backoff_max,
        lease=lease,
    )

    retention = (
        outbox_retention(
            outbox, metrics, utc_now, retention=timedelta(hours=settings.outbox_retention_hours)
        )
        if settings.outbox_retention_hours > 0
        else None
    )

    def after_commit(event_ids: list[str]) -> None:
        metrics.committed(event_ids)
        relay.committed(event_ids)

    sender = secrets.token_hex(8)  # this process, in its own notifications
    # On PostgreSQL, commits also NOTIFY, so relays in other processes wake at commit too.
    channel = outbox_channel(settings.namespace) if postgres and settings.relay_listen else None
    users = users_channel(settings.namespace) if postgres else None
    active_users = ActiveUserCache(max_age=settings.user_cache_seconds)
    listener = PgListener(dsn)

    def committed_elsewhere(payload: str) -> None:
        if payload != sender:  # this process's own commits wake its relay in ``after_commit``
            relay.wake()

    if channel is not None and relay_enabled:
        # On listening (again): rows may have been committed while nobody listened.
        listener.subscribe(channel, committed_elsewhere, on_listening=relay.wake)
    if users is not None and settings.user_cache_seconds > 0 and not standalone_relay:
        # Without the notifications the cache is never trusted: every request reads its user.
        listener.subscribe(
            users,
            active_users.changed,
            on_listening=active_users.trust,
            on_lost=active_users.distrust,
        )
    uow = SqlUnitOfWorkFactory(engine, after_commit, channel, sender, users)
    hasher = Argon2PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_cost_kib=settings.argon2_memory_cost_kib,
        parallelism=settings.argon2_parallelism,
    )
    issuer = JwtTokenIssuer(
        key,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        access_ttl_seconds=settings.access_token_ttl_seconds,
        refresh_ttl_seconds=settings.refresh_token_ttl_seconds,
        clock=utc_now,
    )
    reader = JwtTokenReader(key, issuer=settings.jwt_issuer, audience=settings.jwt_audience)
    return TicketsRuntime(
        settings=settings,
        engine=engine,
        relay_engine=relay_engine,
        metrics=metrics,
        signing_key=key,
        publisher=publisher,
        relay=relay,
        relay_enabled=relay_enabled,
        outbox_retention=retention,
        auth=AuthService(
            uow,
            hasher,
            issuer,
            reader,
            utc_now,
            LoginThrottle(
                settings.login_failures_per_username,
                settings.login_failures_per_address,
                settings.login_failure_window_seconds,
            ),
            active_users,
        ),
        users=UserService(uow, hasher, utc_now, active_users),
        projects=ProjectService(uow, utc_now),
        tickets=TicketService(uow, utc_now),
        listener=listener if listener.subscribed else None,
        bootstrap_admin=not standalone_relay,
    )


async def migrate_only(settings: Settings) -> None:
    """``python -m incident_tickets migrate``: apply the migrations and exit."""
    engine = create_engine(async_database_url(settings.database_url, settings.data_dir))
    try:
        await migrate(engine)
    finally:
        await engine.dispose()
    log.info("database migrated")

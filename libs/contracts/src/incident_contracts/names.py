"""Exchange, queue, routing-key and Redis key names, under one namespace.

Everything a deployment creates on the broker or in Redis is prefixed by the namespace
(``INCIDENT_NAMESPACE``, default ``incident``), so test runs and tenants never see each
other's messages.
"""

from __future__ import annotations

from dataclasses import dataclass

TICKET_ROUTING_PATTERN = "ticket.*"
USER_ROUTING_PATTERN = "user.*"
DEAD_LETTER_REASON_HEADER = "x-dead-letter-reason"
REPLAY_PATH = "/internal/notifications/{user_id}/"
"""Notifier endpoint for the gateways: ``GET`` with ``?after_seq=N&limit=M`` -> ReplayPage,
the user's records with ``seq > N`` in ascending order."""
USERS_EXPORT_PATH = "/internal/users/"
"""Tickets endpoint for the notifier's directory: ``GET`` with ``?after_id=N&limit=M`` ->
UsersPage, every user (active or not) with ``id > N`` in ascending id order."""


@dataclass(frozen=True, slots=True)
class Names:
    namespace: str = "incident"

    # --- RabbitMQ -------------------------------------------------------------------
    @property
    def events_exchange(self) -> str:
        """Durable topic exchange; the routing key is the event type."""
        return f"{self.namespace}.events"

    @property
    def notifier_queue(self) -> str:
        return f"{self.namespace}.notifier.events"

    @property
    def dead_letter_exchange(self) -> str:
        return f"{self.namespace}.notifier.dlx"

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.namespace}.notifier.dead"

    # --- Redis ----------------------------------------------------------------------
    def presence_key(self, user_id: int) -> str:
        """Sorted set: member = gateway instance id, score = expiry (unix milliseconds)."""
        return f"{self.namespace}:presence:{user_id}"

    def gateway_stream(self, instance_id: str) -> str:
        """Stream of deliveries for one gateway instance (fields of ``Delivery``)."""
        return f"{self.namespace}:gateway:{instance_id}:deliveries"

    @property
    def inactive_users_key(self) -> str:
        """Set of the ids of deactivated users (written by the notifier from its directory),
        whose still-valid access tokens the gateways refuse at the handshake."""
        return f"{self.namespace}:users:inactive"

    def gateway_alive_key(self, instance_id: str) -> str:
        """Expiring key refreshed by a live gateway instance."""
        return f"{self.namespace}:gateway:{instance_id}:alive"

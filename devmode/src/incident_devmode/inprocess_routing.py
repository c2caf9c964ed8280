"""The Redis stand-in: presence and per-gateway delivery streams, in this process's memory.

One object plays both sides of what Redis does between the notifier and the gateways:

- for the gateway it is the ``PresenceStore`` (who holds which user, with expiring scores)
  and, per instance, the ``DeliveryFeed`` (a stream of entries read with a blocking wait);
- for the notifier it is the ``DeliveryRouter``: each record goes to every instance whose
  presence score for the recipient lies in the future, as one stream entry with the fields
  of ``incident_contracts.notifications`` (``u``, ``s``, ``n``, ``t``).

The gateway side reuses the gateway's own in-memory fakes (``incident_gateway.testing``), so
the routing rules live in one place: ``route`` below, the stand-in of ``RedisDeliveryRouter``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from incident_contracts import Delivery
from incident_gateway.testing import InMemoryDeliveryFeed, InMemoryPresenceStore


def _unix_ms() -> int:
    return time.time_ns() // 1_000_000


class InProcessRouting:
    def __init__(self, now_ms: Callable[[], int] = _unix_ms) -> None:
        self._now_ms = now_ms
        self._presence: dict[str, InMemoryPresenceStore] = {}
        self._feeds: dict[str, InMemoryDeliveryFeed] = {}
        # Shared by every instance's presence view, as one Redis is: user -> {instance: ms}.
        self.members: dict[int, dict[str, int]] = {}

    # --- the gateway side --------------------------------------------------------------
    def presence(self, instance_id: str) -> InMemoryPresenceStore:
        store = self._presence.get(instance_id)
        if store is None:
            store = InMemoryPresenceStore(instance_id=instance_id, members=self.members)
            self._presence[instance_id] = store
        return store

    def feed(self, instance_id: str) -> InMemoryDeliveryFeed:
        return self._feeds.setdefault(instance_id, InMemoryDeliveryFeed())

    # --- the notifier side (DeliveryRouter) ----------------------------------------------
    async def route(self, deliveries: Sequence[Delivery]) -> int:
        now = self._now_ms()
        written = 0
        for item in deliveries:
            holders = self.members.get(item.user_id, {})
            for instance_id, expires_at_ms in list(holders.items()):
                if expires_at_ms <= now:
                    continue  # that instance stopped heartbeating: it is gone
                self.feed(instance_id).add(item.user_id, item.seq, item.frame.encode(), now)
                written += 1
        return written

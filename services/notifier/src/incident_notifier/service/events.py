"""Use case: one ticket or user event in, its notification records committed and routed."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from incident_contracts import TicketEvent, UserCreated, UserEvent, UserUpdated
from incident_contracts.timestamps import utc_now
from incident_notifier.domain.content import notification_content
from incident_notifier.domain.recipients import named_by_rules, recipients
from incident_notifier.service.ports import DeliveryRouter, NotificationStore, UserDirectory
from incident_notifier.service.rendering import delivery
from incident_notifier.service.translation import directory_user_from_event, ticket_change

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EventOutcome:
    event_type: str
    records_written: int = 0
    duplicate: bool = False
    routed: int = 0
    commit_delay_seconds: float | None = None
    """From the event's ``occurred_at`` to the commit of its records (None when none)."""


class EventProcessor:
    def __init__(
        self,
        store: NotificationStore,
        directory: UserDirectory,
        router: DeliveryRouter,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._store = store
        self._directory = directory
        self._router = router
        self._clock = clock

    async def handle(self, event: TicketEvent | UserEvent) -> EventOutcome:
        if isinstance(event, UserCreated | UserUpdated):
            return await self._user_changed(event)
        return await self._ticket_changed(event)

    async def _user_changed(self, event: UserEvent) -> EventOutcome:
        changed = await self._directory.apply([directory_user_from_event(event)])
        return EventOutcome(event.event_type.value, duplicate=changed == 0)

    async def _ticket_changed(self, event: TicketEvent) -> EventOutcome:
        change = ticket_change(event)
        audience = await self._directory.audience(named_by_rules(change, ()))
        user_ids = recipients(change, audience.admin_ids, audience.inactive_ids)
        content = notification_content(change)
        records = await self._store.record(event.event_id, event.event_type, user_ids, content)
        if records is None:
            log.info("event %s (%s) was already handled", event.event_id, event.event_type)
            return EventOutcome(event.event_type.value, duplicate=True)
        delay = (self._clock() - event.occurred_at).total_seconds() if records else None
        routed = await self._router.route([delivery(record) for record in records])
        return EventOutcome(
            event.event_type.value,
            records_written=len(records),
            routed=routed,
            commit_delay_seconds=delay,
        )

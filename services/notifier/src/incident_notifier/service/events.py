"""Use case: one ticket or user event in, its notification records committed and routed."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from incident_contracts import TicketEvent, UserCreated, UserEvent, UserUpdated
from incident_contracts.timestamps import utc_now
from incident_notifier.domain.content import notification_content
from incident_notifier.domain.recipients import named_by_rules, recipients
from incident_notifier.domain.records import NotificationRecord
from incident_notifier.service.ports import (
    Audience,
    AudienceAndRecords,
    DeliveryRouter,
    NotificationStore,
    RecordRequest,
    UserDirectory,
)
from incident_notifier.service.rendering import delivery
from incident_notifier.service.translation import directory_user_from_event, ticket_change

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EventOutcome:
    event_type: str
    records_written: int = 0
    duplicate: bool = False
    commit_delay_seconds: float | None = None
    """From the event's ``occurred_at`` to the commit of its records (None when none)."""


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    events: list[EventOutcome]
    """One per event, in the order given."""
    routed: int = 0
    """Stream entries written for gateways, for the whole batch."""


class _OneAfterTheOther:
    """The directory read, then the writes, each on its own (for stores that cannot share
    a transaction with the directory, such as the in-memory fakes)."""

    def __init__(self, directory: UserDirectory, store: NotificationStore) -> None:
        self._directory = directory
        self._store = store

    async def record_for(
        self,
        candidate_ids: Collection[int],
        requests_for: Callable[[Audience], Sequence[RecordRequest]],
    ) -> list[list[NotificationRecord] | None]:
        audience = await self._directory.audience(candidate_ids)
        return await self._store.record_many(requests_for(audience))


class EventProcessor:
    def __init__(
        self,
        store: NotificationStore,
        directory: UserDirectory,
        router: DeliveryRouter,
        *,
        unit: AudienceAndRecords | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """``unit``: where ticket events read the directory and write, in one transaction
        (one connection and one commit per batch); by default ``directory`` then ``store``.
        User events always go to ``directory``."""
        self._directory = directory
        self._unit = unit or _OneAfterTheOther(directory, store)
        self._router = router
        self._clock = clock

    async def handle(self, event: TicketEvent | UserEvent) -> EventOutcome:
        [outcome] = (await self.handle_many([event])).events
        return outcome

    async def handle_many(self, events: Sequence[TicketEvent | UserEvent]) -> BatchOutcome:
        """Handle events in order; consecutive ticket events share one transaction.

        A user event closes the run of ticket events before it, so a ticket event always
        sees the directory as every earlier event left it.
        """
        outcomes: list[EventOutcome] = []
        routed = 0
        run: list[TicketEvent] = []
        for event in [*events, None]:
            if event is None or isinstance(event, UserCreated | UserUpdated):
                if run:
                    batch = await self._tickets_changed(run)
                    outcomes += batch.events
                    routed += batch.routed
                    run = []
                if event is not None:
                    outcomes.append(await self._user_changed(event))
            else:
                run.append(event)
        return BatchOutcome(outcomes, routed)

    async def _user_changed(self, event: UserEvent) -> EventOutcome:
        changed = await self._directory.apply([directory_user_from_event(event)])
        return EventOutcome(event.event_type.value, duplicate=changed == 0)

    async def _tickets_changed(self, events: Sequence[TicketEvent]) -> BatchOutcome:
        changes = [ticket_change(event) for event in events]
        candidates: set[int] = set()
        for change in changes:
            candidates |= named_by_rules(change, ())

        def requests_for(audience: Audience) -> list[RecordRequest]:
            return [
                RecordRequest(
                    event.event_id,
                    event.event_type.value,
                    recipients(change, audience.admin_ids, audience.inactive_ids),
                    notification_content(change),
                )
                for event, change in zip(events, changes, strict=True)
            ]

        written = await self._unit.record_for(candidates, requests_for)
        committed_at = self._clock()
        routed = await self._router.route(
            [delivery(record) for records in written if records for record in records]
        )
        outcomes = []
        for event, records in zip(events, written, strict=True):
            if records is None:
                log.info("event %s (%s) was already handled", event.event_id, event.event_type)
                outcomes.append(EventOutcome(event.event_type.value, duplicate=True))
                continue
            delay = (committed_at - event.occurred_at).total_seconds() if records else None
            outcomes.append(
                EventOutcome(
                    event.event_type.value,
                    records_written=len(records),
                    commit_delay_seconds=delay,
                )
            )
        return BatchOutcome(outcomes, routed)

"""The ticket and its lifecycle (API.md's table), enforced by the entity itself.

Every action checks, in this order: the actor's role, then ownership (the creating client)
or assignment (an assigned developer), then the current status, then the action's own input.
A successful action changes the ticket and records one ``TicketEvent``; the unit of work turns
the recorded events into outbox rows in the same commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from incident_contracts.enums import Category, Priority, Role, TicketStatus
from incident_tickets.domain.errors import (
    Forbidden,
    InvalidDeveloper,
    InvalidTransition,
    ValidationFailed,
)
from incident_tickets.domain.users import Actor, User, require_role


class TicketAction(StrEnum):
    CREATED = "created"
    OPENED = "opened"
    ASSIGNED = "assigned"
    WORK_STARTED = "work_started"
    WORK_FINISHED = "work_finished"
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class TicketEvent:
    """What happened to a ticket, by whom; ``newly_assigned_ids`` and ``comment`` when relevant."""

    action: TicketAction
    actor_id: int
    occurred_at: datetime
    newly_assigned_ids: tuple[int, ...] = ()
    comment: str | None = None


@dataclass(slots=True)
class Ticket:
    title: str
    description: str
    priority: Priority
    category: Category
    project_id: int
    created_by_id: int
    created_at: datetime
    updated_at: datetime
    status: TicketStatus = TicketStatus.NEW
    assignee_ids: list[int] = field(default_factory=list)
    opened_at: datetime | None = None
    started_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    resolution_due_at: datetime | None = None
    rejection_comment: str | None = None
    id: int | None = None
    events: list[TicketEvent] = field(default_factory=list, repr=False, compare=False)

    # --- creation -------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        actor: Actor,
        *,
        title: str,
        description: str,
        priority: Priority,
        category: Category,
        project_id: int,
        now: datetime,
    ) -> Ticket:
        require_role(actor, Role.CLIENT, "create a ticket")
        if not title.strip():
            raise ValidationFailed("The field 'title' must not be empty.")
        ticket = cls(
            title=title.strip(),
            description=description,
            priority=priority,
            category=category,
            project_id=project_id,
            created_by_id=actor.id,
            created_at=now,
            updated_at=now,
        )
        ticket._record(TicketAction.CREATED, actor, now)
        return ticket

    # --- who sees what --------------------------------------------------------------
    def visible_to(self, actor: Actor) -> bool:
        if actor.role is Role.ADMIN:
            return True
        if actor.role is Role.CLIENT:
            return self.created_by_id == actor.id
        return actor.id in self.assignee_ids

    # --- lifecycle ------------------------------------------------------------------
    def open(self, actor: Actor, now: datetime) -> None:
        require_role(actor, Role.ADMIN, "open a ticket")
        self._require_status("opened", TicketStatus.NEW)
        self.status = TicketStatus.OPENED
        self.opened_at = now
        self._record(TicketAction.OPENED, actor, now)

    def assign(
        self,
        actor: Actor,
        developer_ids: Sequence[int],
        developers: Sequence[User],
        now: datetime,
        resolution_due_at: datetime | None = None,
    ) -> tuple[int, ...]:
        """Add developers to the assignees; returns the ids that were not assigned before.

        ``developers`` are the stored users among ``developer_ids``; an id that is missing
        there, or names a user who is not an active developer, refuses the whole assignment.
        """
        require_role(actor, Role.ADMIN, "assign developers")
        self._require_status("assigned", TicketStatus.OPENED, TicketStatus.IN_PROGRESS)
        if not developer_ids:
            raise ValidationFailed("The field 'developer_ids' must name at least one developer.")
        eligible = {
            user.id for user in developers if user.role is Role.DEVELOPER and user.is_active
        }
        wrong = [str(user_id) for user_id in developer_ids if user_id not in eligible]
        if wrong:
            raise InvalidDeveloper(f"Not an active developer: user id {', '.join(wrong)}.")
        newly = tuple(dict.fromkeys(i for i in developer_ids if i not in self.assignee_ids))
        self.assignee_ids.extend(newly)
        if resolution_due_at is not None:
            self.resolution_due_at = resolution_due_at
        self._record(TicketAction.ASSIGNED, actor, now, newly_assigned_ids=newly)
        return newly

    def start(self, actor: Actor, now: datetime) -> None:
        self._require_assigned_developer(actor, "start work on a ticket")
        self._require_status("started", TicketStatus.OPENED)
        self.status = TicketStatus.IN_PROGRESS
        self.started_at = now
        self._record(TicketAction.WORK_STARTED, actor, now)

    def finish(self, actor: Actor, now: datetime) -> None:
        self._require_assigned_developer(actor, "finish work on a ticket")
        self._require_status("finished", TicketStatus.IN_PROGRESS)
        self.status = TicketStatus.RESOLVED
        self.resolved_at = now
        self._record(TicketAction.WORK_FINISHED, actor, now)

    def approve(self, actor: Actor, now: datetime) -> None:
        self._require_creator(actor, "approve a ticket")
        self._require_status("approved", TicketStatus.RESOLVED)
        self.status = TicketStatus.CLOSED
        self.closed_at = now
        self._record(TicketAction.APPROVED, actor, now)

    def reject(self, actor: Actor, comment: str | None, now: datetime) -> None:
        self._require_creator(actor, "reject a ticket")
        self._require_status("rejected", TicketStatus.RESOLVED)
        reason = (comment or "").strip()
        if not reason:
            raise ValidationFailed("The field 'comment' is required and must not be empty.")
        self.status = TicketStatus.IN_PROGRESS
        self.rejection_comment = reason
        self._record(TicketAction.REJECTED, actor, now, comment=reason)

    # --- rules ----------------------------------------------------------------------
    def _require_status(self, action: str, *allowed: TicketStatus) -> None:
        if self.status not in allowed:
            raise InvalidTransition(action, self.status)

    def _require_assigned_developer(self, actor: Actor, action: str) -> None:
        require_role(actor, Role.DEVELOPER, action)
        if actor.id not in self.assignee_ids:
            raise Forbidden(f"Only a developer assigned to this ticket may {action}.")

    def _require_creator(self, actor: Actor, action: str) -> None:
        require_role(actor, Role.CLIENT, action)
        if actor.id != self.created_by_id:
            raise Forbidden(f"Only the client who created this ticket may {action}.")

    def _record(
        self,
        action: TicketAction,
        actor: Actor,
        now: datetime,
        *,
        newly_assigned_ids: tuple[int, ...] = (),
        comment: str | None = None,
    ) -> None:
        self.updated_at = now
        self.events.append(TicketEvent(action, actor.id, now, newly_assigned_ids, comment))

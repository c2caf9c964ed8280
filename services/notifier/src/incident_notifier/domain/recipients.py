"""Who is told about a ticket change: API.md's recipients column, exactly.

- the actor is never told about their own action;
- a person named by several rules (an admin who is also an assignee) is told once;
- only the developers newly added by an assignment get ``ticket_assigned``;
- users the directory knows to be inactive are told nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from incident_notifier.domain.tickets import ChangeKind, TicketChange

_TO_CREATOR = {ChangeKind.TICKET_OPENED, ChangeKind.WORK_STARTED, ChangeKind.WORK_FINISHED}
_TO_ADMINS_AND_ASSIGNEES = {ChangeKind.TICKET_APPROVED, ChangeKind.TICKET_REJECTED}


def named_by_rules(change: TicketChange, admin_ids: Iterable[int]) -> set[int]:
    """Everyone the table names for this change, before the actor and inactive are removed."""
    if change.kind is ChangeKind.TICKET_CREATED:
        return set(admin_ids)
    if change.kind in _TO_CREATOR:
        return {change.ticket.created_by_id}
    if change.kind is ChangeKind.TICKET_ASSIGNED:
        return set(change.newly_assigned_ids)
    if change.kind in _TO_ADMINS_AND_ASSIGNEES:
        return set(admin_ids) | set(change.ticket.assignee_ids)
    raise ValueError(f"no recipient rule for {change.kind!r}")


def recipients(
    change: TicketChange,
    admin_ids: Iterable[int],
    inactive_ids: Collection[int] = frozenset(),
) -> list[int]:
    """The user ids to notify, each once, in ascending order.

    Ascending order matters beyond tidiness: seq rows are locked in this order, so two
    replicas writing for overlapping users never deadlock.
    """
    named = named_by_rules(change, admin_ids)
    if change.actor_id is not None:
        named.discard(change.actor_id)
    return sorted(user_id for user_id in named if user_id not in inactive_ids)

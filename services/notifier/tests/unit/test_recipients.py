"""API.md's recipients column, one test per notification type, plus the cross-cutting rules."""

from datetime import UTC, datetime

import pytest

from incident_notifier.domain.recipients import recipients
from incident_notifier.domain.tickets import ChangeKind, TicketChange, TicketFacts

ADMINS = [10, 11]
CLIENT = 2
DEVS = (30, 31)
WHEN = datetime(2025, 12, 23, 10, 0, tzinfo=UTC)


def change(
    kind: ChangeKind,
    actor: int | None,
    *,
    assignees: tuple[int, ...] = DEVS,
    newly: tuple[int, ...] = (),
) -> TicketChange:
    ticket = TicketFacts(
        id=1,
        title="T",
        description="D",
        priority="HIGH",
        priority_display="High",
        category="BUG",
        status="NEW",
        status_display="New",
        project_name="P",
        created_by_id=CLIENT,
        created_by_name="John Client",
        created_at=WHEN,
        assignee_ids=assignees,
    )
    return TicketChange(kind, ticket, WHEN, actor_id=actor, newly_assigned_ids=newly)


def test_ticket_created_goes_to_every_admin() -> None:
    assert recipients(change(ChangeKind.TICKET_CREATED, CLIENT, assignees=()), ADMINS) == [10, 11]


def test_ticket_created_with_no_admins_goes_to_nobody() -> None:
    assert recipients(change(ChangeKind.TICKET_CREATED, CLIENT), []) == []


@pytest.mark.parametrize(
    "kind", [ChangeKind.TICKET_OPENED, ChangeKind.WORK_STARTED, ChangeKind.WORK_FINISHED]
)
def test_status_changes_go_to_the_creator_only(kind: ChangeKind) -> None:
    assert recipients(change(kind, 10), ADMINS) == [CLIENT]


def test_ticket_assigned_goes_to_the_newly_assigned_developers_only() -> None:
    assigned = change(ChangeKind.TICKET_ASSIGNED, 10, assignees=(30, 31, 32), newly=(32, 31))
    assert recipients(assigned, ADMINS) == [31, 32]


def test_an_assignment_that_adds_nobody_notifies_nobody() -> None:
    assert recipients(change(ChangeKind.TICKET_ASSIGNED, 10, newly=()), ADMINS) == []


@pytest.mark.parametrize("kind", [ChangeKind.TICKET_APPROVED, ChangeKind.TICKET_REJECTED])
def test_approval_and_rejection_go_to_admins_and_assignees(kind: ChangeKind) -> None:
    assert recipients(change(kind, CLIENT), ADMINS) == [10, 11, 30, 31]


def test_the_actor_is_never_notified_about_their_own_action() -> None:
    # An admin creating a ticket (not in the API, but the rule holds regardless).
    assert recipients(change(ChangeKind.TICKET_CREATED, 10), ADMINS) == [11]
    # An admin assigning themselves.
    assert recipients(change(ChangeKind.TICKET_ASSIGNED, 10, newly=(10, 30)), ADMINS) == [30]
    # The creator acting on their own ticket.
    assert recipients(change(ChangeKind.WORK_STARTED, CLIENT), ADMINS) == []


def test_an_admin_who_is_also_an_assignee_is_notified_once() -> None:
    approved = change(ChangeKind.TICKET_APPROVED, CLIENT, assignees=(11, 30))
    assert recipients(approved, ADMINS) == [10, 11, 30]


def test_inactive_users_are_left_out() -> None:
    rejected = change(ChangeKind.TICKET_REJECTED, CLIENT)
    assert recipients(rejected, ADMINS, inactive_ids={30}) == [10, 11, 31]
    assert recipients(change(ChangeKind.TICKET_OPENED, 10), ADMINS, inactive_ids={CLIENT}) == []


def test_a_system_action_without_an_actor_excludes_nobody() -> None:
    assert recipients(change(ChangeKind.TICKET_OPENED, None), ADMINS) == [CLIENT]

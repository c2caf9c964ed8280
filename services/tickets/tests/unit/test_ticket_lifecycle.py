"""API.md's lifecycle table, every action x actor x status: allowed ones succeed, all others
give the documented error, checked in the order role -> ownership -> status -> input."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from incident_contracts.enums import Category, Priority, Role, TicketStatus
from incident_tickets.domain.errors import (
    Forbidden,
    InvalidDeveloper,
    InvalidTransition,
    TicketsError,
    ValidationFailed,
)
from incident_tickets.domain.tickets import Ticket, TicketAction
from incident_tickets.domain.users import Actor, User

NOW = datetime(2025, 12, 23, 10, 0, tzinfo=UTC)
ADMIN = Actor(1, Role.ADMIN)
DEV = Actor(2, Role.DEVELOPER)  # assigned to every ticket below
OTHER_DEV = Actor(3, Role.DEVELOPER)  # never assigned
CLIENT = Actor(4, Role.CLIENT)  # the creator
OTHER_CLIENT = Actor(5, Role.CLIENT)
ACTORS = {
    "admin": ADMIN,
    "assigned developer": DEV,
    "other developer": OTHER_DEV,
    "creating client": CLIENT,
    "other client": OTHER_CLIENT,
}
DEV_USER = User("dev", "Dev One", Role.DEVELOPER, "x", id=DEV.id)
OTHER_DEV_USER = User("dev2", "Dev Two", Role.DEVELOPER, "x", id=OTHER_DEV.id)

# action: (who may do it, from-statuses, resulting status or None for unchanged, event)
TABLE: dict[str, tuple[set[str], set[TicketStatus], TicketStatus | None, TicketAction]] = {
    "open": ({"admin"}, {TicketStatus.NEW}, TicketStatus.OPENED, TicketAction.OPENED),
    "assign": (
        {"admin"},
        {TicketStatus.OPENED, TicketStatus.IN_PROGRESS},
        None,
        TicketAction.ASSIGNED,
    ),
    "start": (
        {"assigned developer"},
        {TicketStatus.OPENED},
        TicketStatus.IN_PROGRESS,
        TicketAction.WORK_STARTED,
    ),
    "finish": (
        {"assigned developer"},
        {TicketStatus.IN_PROGRESS},
        TicketStatus.RESOLVED,
        TicketAction.WORK_FINISHED,
    ),
    "approve": (
        {"creating client"},
        {TicketStatus.RESOLVED},
        TicketStatus.CLOSED,
        TicketAction.APPROVED,
    ),
    "reject": (
        {"creating client"},
        {TicketStatus.RESOLVED},
        TicketStatus.IN_PROGRESS,
        TicketAction.REJECTED,
    ),
}
# Who fails on the role itself (403 before anything else), per action.
ROLE_OF = {
    "open": Role.ADMIN,
    "assign": Role.ADMIN,
    "start": Role.DEVELOPER,
    "finish": Role.DEVELOPER,
    "approve": Role.CLIENT,
    "reject": Role.CLIENT,
}


def ticket_in(status: TicketStatus) -> Ticket:
    return Ticket(
        id=7,
        title="Homepage not loading",
        description="500",
        priority=Priority.HIGH,
        category=Category.BUG,
        project_id=1,
        created_by_id=CLIENT.id,
        created_at=NOW,
        updated_at=NOW,
        status=status,
        assignee_ids=[DEV.id] if status is not TicketStatus.NEW else [],
    )


def perform(ticket: Ticket, action: str, actor: Actor) -> None:
    if action == "open":
        ticket.open(actor, NOW)
    elif action == "assign":
        ticket.assign(actor, [OTHER_DEV.id], [OTHER_DEV_USER], NOW)
    elif action == "start":
        ticket.start(actor, NOW)
    elif action == "finish":
        ticket.finish(actor, NOW)
    elif action == "approve":
        ticket.approve(actor, NOW)
    else:
        ticket.reject(actor, "Issue still exists on mobile", NOW)


CASES = [
    (action, who, status)
    for action in TABLE
    for who in ACTORS
    for status in TicketStatus
    # A NEW ticket has nobody assigned: the "assigned developer" does not exist yet.
    if not (status is TicketStatus.NEW and who == "assigned developer")
]


@pytest.mark.parametrize(("action", "who", "status"), CASES)
def test_action_by_actor_in_status(action: str, who: str, status: TicketStatus) -> None:
    allowed_actors, allowed_statuses, result, event = TABLE[action]
    actor = ACTORS[who]
    ticket = ticket_in(status)
    before_status = ticket.status

    expected: type[TicketsError] | None
    if actor.role is not ROLE_OF[action] or who not in allowed_actors:
        expected = Forbidden
    elif status not in allowed_statuses:
        expected = InvalidTransition
    else:
        expected = None

    if expected is None:
        perform(ticket, action, actor)
        assert ticket.status is (result or before_status)
        assert [e.action for e in ticket.events] == [event]
        assert ticket.events[0].actor_id == actor.id
        assert ticket.updated_at == NOW
    else:
        with pytest.raises(expected) as refusal:
            perform(ticket, action, actor)
        assert ticket.status is before_status
        assert ticket.events == []
        if expected is InvalidTransition:
            assert isinstance(refusal.value, InvalidTransition)
            assert refusal.value.status is status
            assert refusal.value.code == "invalid_transition"
        else:
            assert refusal.value.code == "forbidden"


@pytest.mark.parametrize("role", [Role.ADMIN, Role.DEVELOPER])
def test_only_a_client_creates_tickets(role: Role) -> None:
    with pytest.raises(Forbidden):
        Ticket.create(
            Actor(9, role),
            title="t",
            description="",
            priority=Priority.LOW,
            category=Category.BUG,
            project_id=1,
            now=NOW,
        )


def test_a_client_creates_a_new_ticket_and_records_it() -> None:
    ticket = Ticket.create(
        CLIENT,
        title="  Homepage not loading ",
        description="500",
        priority=Priority.HIGH,
        category=Category.BUG,
        project_id=1,
        now=NOW,
    )
    assert (ticket.status, ticket.title, ticket.created_by_id) == (
        TicketStatus.NEW,
        "Homepage not loading",
        CLIENT.id,
    )
    assert [(e.action, e.actor_id) for e in ticket.events] == [(TicketAction.CREATED, CLIENT.id)]


def test_timestamps_follow_the_lifecycle() -> None:
    ticket = ticket_in(TicketStatus.NEW)
    ticket.open(ADMIN, NOW)
    ticket.assign(ADMIN, [DEV.id], [DEV_USER], NOW)
    ticket.start(DEV, NOW)
    ticket.finish(DEV, NOW)
    ticket.approve(CLIENT, NOW)
    assert (ticket.opened_at, ticket.started_at, ticket.resolved_at, ticket.closed_at) == (
        NOW,
        NOW,
        NOW,
        NOW,
    )


class TestAssign:
    def test_adds_developers_and_reports_only_the_new_ones(self) -> None:
        ticket = ticket_in(TicketStatus.OPENED)  # DEV already assigned
        newly = ticket.assign(
            ADMIN, [DEV.id, OTHER_DEV.id, OTHER_DEV.id], [DEV_USER, OTHER_DEV_USER], NOW
        )
        assert newly == (OTHER_DEV.id,)
        assert ticket.assignee_ids == [DEV.id, OTHER_DEV.id]
        assert ticket.events[-1].newly_assigned_ids == (OTHER_DEV.id,)

    def test_reassigning_the_same_developer_adds_nobody(self) -> None:
        ticket = ticket_in(TicketStatus.IN_PROGRESS)
        assert ticket.assign(ADMIN, [DEV.id], [DEV_USER], NOW) == ()
        assert ticket.assignee_ids == [DEV.id]

    def test_sets_the_due_date_only_when_given(self) -> None:
        ticket = ticket_in(TicketStatus.OPENED)
        due = datetime(2025, 12, 24, 18, 0, tzinfo=UTC)
        ticket.assign(ADMIN, [DEV.id], [DEV_USER], NOW, due)
        ticket.assign(ADMIN, [DEV.id], [DEV_USER], NOW)
        assert ticket.resolution_due_at == due

    @pytest.mark.parametrize(
        "candidates",
        [
            [],  # unknown id
            [User("c", "Client", Role.CLIENT, "x", id=OTHER_DEV.id)],
            [User("a", "Admin", Role.ADMIN, "x", id=OTHER_DEV.id)],
            [User("d", "Gone", Role.DEVELOPER, "x", is_active=False, id=OTHER_DEV.id)],
        ],
    )
    def test_refuses_anyone_but_an_active_developer(self, candidates: list[User]) -> None:
        ticket = ticket_in(TicketStatus.OPENED)
        with pytest.raises(InvalidDeveloper) as refusal:
            ticket.assign(ADMIN, [DEV.id, OTHER_DEV.id], [*candidates, DEV_USER], NOW)
        assert refusal.value.code == "invalid_developer"
        assert str(OTHER_DEV.id) in refusal.value.detail
        assert ticket.assignee_ids == [DEV.id]
        assert ticket.events == []

    def test_refuses_an_empty_list_after_the_status_check(self) -> None:
        with pytest.raises(ValidationFailed):
            ticket_in(TicketStatus.OPENED).assign(ADMIN, [], [], NOW)
        with pytest.raises(InvalidTransition):
            ticket_in(TicketStatus.NEW).assign(ADMIN, [], [], NOW)


class TestReject:
    @pytest.mark.parametrize("comment", [None, "", "   \n"])
    def test_needs_a_comment(self, comment: str | None) -> None:
        ticket = ticket_in(TicketStatus.RESOLVED)
        with pytest.raises(ValidationFailed) as refusal:
            ticket.reject(CLIENT, comment, NOW)
        assert refusal.value.code == "validation_error"
        assert "comment" in refusal.value.detail
        assert ticket.status is TicketStatus.RESOLVED

    def test_checks_role_and_status_before_the_comment(self) -> None:
        with pytest.raises(Forbidden):
            ticket_in(TicketStatus.RESOLVED).reject(ADMIN, "", NOW)
        with pytest.raises(InvalidTransition):
            ticket_in(TicketStatus.CLOSED).reject(CLIENT, "", NOW)

    def test_keeps_the_stripped_comment(self) -> None:
        ticket = ticket_in(TicketStatus.RESOLVED)
        ticket.reject(CLIENT, "  still broken ", NOW)
        assert ticket.rejection_comment == "still broken"
        assert ticket.events[-1].comment == "still broken"


@pytest.mark.parametrize(
    ("who", "visible"),
    [
        ("admin", True),
        ("assigned developer", True),
        ("other developer", False),
        ("creating client", True),
        ("other client", False),
    ],
)
def test_visibility(who: str, visible: bool) -> None:
    assert ticket_in(TicketStatus.OPENED).visible_to(ACTORS[who]) is visible

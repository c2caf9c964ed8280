"""Ticket use cases over the in-memory unit of work: events, rollback, scoping."""

from __future__ import annotations

import pytest

from incident_contracts import events
from incident_contracts.enums import Category, Priority, Role, TicketStatus
from incident_tickets.domain.errors import (
    Forbidden,
    InvalidProject,
    InvalidTransition,
    TicketNotFound,
    ValidationFailed,
)
from incident_tickets.domain.users import Actor
from incident_tickets.service.views import TicketView

from .conftest import Core


async def new_ticket(core: Core, client: Actor, project_id: int, title: str = "Homepage") -> int:
    view = await core.tickets.create(
        client,
        title=title,
        description="500 error",
        priority=Priority.HIGH,
        category=Category.BUG,
        project_id=project_id,
    )
    assert view.ticket.id is not None
    return view.ticket.id


async def test_each_action_commits_its_event_with_the_snapshot_after_it(core: Core) -> None:
    admin = await core.user(Role.ADMIN, "Ada Admin")
    alice = await core.user(Role.DEVELOPER, "Alice Developer")
    bob = await core.user(Role.DEVELOPER, "Bob Support")
    client = await core.user(Role.CLIENT, "John Client")
    project = await core.projects.create(admin, "Website Redesign")
    assert project.id is not None
    before = len(core.store.outbox)

    tid = await new_ticket(core, client, project.id)
    await core.tickets.open(admin, tid)
    await core.tickets.assign(admin, tid, [alice.id])
    view = await core.tickets.assign(admin, tid, [alice.id, bob.id])
    assert view.assigned_to_names == ["Alice Developer", "Bob Support"]
    await core.tickets.start(alice, tid)
    await core.tickets.finish(bob, tid)
    await core.tickets.reject(client, tid, "still broken")
    await core.tickets.finish(alice, tid)
    await core.tickets.approve(client, tid)

    published = core.store.outbox[before:]
    assert [type(e) for e in published] == [
        events.TicketCreated,
        events.TicketOpened,
        events.TicketAssigned,
        events.TicketAssigned,
        events.WorkStarted,
        events.WorkFinished,
        events.TicketRejected,
        events.WorkFinished,
        events.TicketApproved,
    ]
    assert [e.actor_id for e in published] == [
        client.id,
        admin.id,
        admin.id,
        admin.id,
        alice.id,
        bob.id,
        client.id,
        alice.id,
        client.id,
    ]
    created = published[0]
    assert isinstance(created, events.TicketCreated)
    assert created.payload.ticket.project_name == "Website Redesign"
    assert created.payload.ticket.created_by_name == "John Client"
    assert created.payload.ticket.status is TicketStatus.NEW
    first_assign, second_assign = published[2], published[3]
    assert isinstance(first_assign, events.TicketAssigned)
    assert isinstance(second_assign, events.TicketAssigned)
    assert first_assign.payload.newly_assigned_ids == [alice.id]
    assert second_assign.payload.newly_assigned_ids == [bob.id]
    assert second_assign.payload.ticket.assigned_to_names == ["Alice Developer", "Bob Support"]
    rejected = published[6]
    assert isinstance(rejected, events.TicketRejected)
    assert rejected.payload.comment == "still broken"
    assert rejected.payload.ticket.rejection_comment == "still broken"
    approved = published[-1]
    assert isinstance(approved, events.TicketApproved)
    assert approved.payload.ticket.status is TicketStatus.CLOSED
    assert len({e.event_id for e in published}) == len(published)


async def test_a_refused_action_leaves_no_change_and_no_event(core: Core) -> None:
    admin = await core.user(Role.ADMIN)
    client = await core.user(Role.CLIENT)
    project = await core.projects.create(admin, "P")
    assert project.id is not None
    tid = await new_ticket(core, client, project.id)
    outbox = list(core.store.outbox)

    with pytest.raises(InvalidTransition):
        await core.tickets.approve(client, tid)
    with pytest.raises(Forbidden):
        await core.tickets.open(client, tid)
    with pytest.raises(InvalidProject):
        await new_ticket(core, client, 999)

    assert core.store.outbox == outbox
    assert core.store.state.tickets[tid].status is TicketStatus.NEW
    assert len(core.store.state.tickets) == 1


async def test_acting_on_a_missing_ticket_is_not_found(core: Core) -> None:
    admin = await core.user(Role.ADMIN)
    with pytest.raises(TicketNotFound) as missing:
        await core.tickets.open(admin, 42)
    assert missing.value.code == "not_found"


async def test_reading_is_scoped_by_role(core: Core) -> None:
    admin = await core.user(Role.ADMIN)
    dev = await core.user(Role.DEVELOPER)
    other_dev = await core.user(Role.DEVELOPER)
    client = await core.user(Role.CLIENT)
    other_client = await core.user(Role.CLIENT)
    project = await core.projects.create(admin, "P")
    assert project.id is not None
    first = await new_ticket(core, client, project.id, "first")
    second = await new_ticket(core, client, project.id, "second")
    third = await new_ticket(core, other_client, project.id, "third")
    await core.tickets.open(admin, second)
    await core.tickets.assign(admin, second, [dev.id])

    def ids(views: list[TicketView]) -> list[int | None]:
        return [v.ticket.id for v in views]

    assert ids(await core.tickets.list_tickets(admin, limit=50, offset=0)) == [
        third,
        second,
        first,
    ]
    assert ids(await core.tickets.list_tickets(client, limit=50, offset=0)) == [second, first]
    assert ids(await core.tickets.list_tickets(dev, limit=50, offset=0)) == [second]
    assert ids(await core.tickets.list_tickets(other_dev, limit=50, offset=0)) == []
    assert ids(await core.tickets.list_tickets(admin, limit=1, offset=1)) == [second]

    assert (await core.tickets.get(dev, second)).ticket.id == second
    for outsider, tid in [(other_dev, second), (other_client, first), (dev, first)]:
        with pytest.raises(TicketNotFound):
            await core.tickets.get(outsider, tid)


async def test_an_unassigned_developer_may_not_act_even_when_the_status_allows(
    core: Core,
) -> None:
    admin = await core.user(Role.ADMIN)
    dev = await core.user(Role.DEVELOPER)
    stranger = await core.user(Role.DEVELOPER)
    client = await core.user(Role.CLIENT)
    project = await core.projects.create(admin, "P")
    assert project.id is not None
    tid = await new_ticket(core, client, project.id)
    await core.tickets.open(admin, tid)
    await core.tickets.assign(admin, tid, [dev.id])
    with pytest.raises(Forbidden):
        await core.tickets.start(stranger, tid)
    with pytest.raises(ValidationFailed):
        await core.tickets.assign(admin, tid, [])

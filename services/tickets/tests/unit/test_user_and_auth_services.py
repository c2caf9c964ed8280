"""Users (admin-only changes, events, export, bootstrap admin) and authentication."""

from __future__ import annotations

import pytest

from incident_contracts import events
from incident_contracts.enums import Role
from incident_tickets.domain.errors import (
    Forbidden,
    InvalidCredentials,
    InvalidToken,
    TokenExpired,
    UsernameTaken,
    UserNotFound,
    ValidationFailed,
)
from incident_tickets.domain.users import Actor

from .conftest import Core


async def test_only_an_admin_creates_users_and_each_creation_is_an_event(core: Core) -> None:
    admin = await core.user(Role.ADMIN)
    client = await core.user(Role.CLIENT)
    with pytest.raises(Forbidden):
        await core.users.create(client, username="x", password="pw", full_name="X", role=Role.ADMIN)
    user = await core.users.create(
        admin, username="alice", password="pw", full_name="Alice", role=Role.DEVELOPER
    )
    last = core.store.outbox[-1]
    assert isinstance(last, events.UserCreated)
    assert last.actor_id == admin.id
    assert last.payload.model_dump() == {
        "id": user.id,
        "username": "alice",
        "full_name": "Alice",
        "role": Role.DEVELOPER,
        "is_active": True,
    }
    with pytest.raises(UsernameTaken) as taken:
        await core.users.create(
            admin, username="alice", password="pw", full_name="A", role=Role.CLIENT
        )
    assert taken.value.code == "username_taken"
    with pytest.raises(ValidationFailed):
        await core.users.create(
            admin, username="  ", password="pw", full_name="A", role=Role.CLIENT
        )


async def test_updates_are_admin_only_and_emit_user_updated(core: Core) -> None:
    admin = await core.user(Role.ADMIN)
    dev = await core.user(Role.DEVELOPER)
    with pytest.raises(Forbidden):
        await core.users.update(dev, dev.id, full_name="Me")
    updated = await core.users.update(admin, dev.id, full_name="New Name", is_active=False)
    assert (updated.full_name, updated.is_active, updated.role) == (
        "New Name",
        False,
        Role.DEVELOPER,
    )
    last = core.store.outbox[-1]
    assert isinstance(last, events.UserUpdated)
    assert (last.payload.full_name, last.payload.is_active) == ("New Name", False)
    with pytest.raises(UserNotFound):
        await core.users.update(admin, 999, is_active=False)


async def test_listing_users_is_admin_only_newest_first_with_a_role_filter(core: Core) -> None:
    admin = await core.user(Role.ADMIN)
    d1 = await core.user(Role.DEVELOPER)
    c1 = await core.user(Role.CLIENT)
    d2 = await core.user(Role.DEVELOPER)
    all_users = await core.users.list_users(admin, role=None, limit=50, offset=0)
    assert [u.id for u in all_users] == [d2.id, c1.id, d1.id, admin.id]
    devs = await core.users.list_users(admin, role=Role.DEVELOPER, limit=50, offset=0)
    assert [u.id for u in devs] == [d2.id, d1.id]
    with pytest.raises(Forbidden):
        await core.users.list_users(d1, role=None, limit=50, offset=0)


async def test_export_pages_through_every_user_in_id_order(core: Core) -> None:
    created = [await core.user(Role.CLIENT) for _ in range(5)]
    page, more = await core.users.export(0, 2)
    assert ([u.id for u in page], more) == ([created[0].id, created[1].id], True)
    page, more = await core.users.export(created[3].id, 2)
    assert ([u.id for u in page], more) == ([created[4].id], False)


async def test_bootstrap_admin_is_created_once_with_a_system_event(core: Core) -> None:
    assert await core.users.ensure_admin("root", "pw", "Root") is True
    assert await core.users.ensure_admin("root", "other", "Root") is False
    created = [e for e in core.store.outbox if isinstance(e, events.UserCreated)]
    assert [(e.payload.username, e.payload.role, e.actor_id) for e in created] == [
        ("root", Role.ADMIN, None)
    ]


async def test_login_checks_the_password_and_the_account(core: Core) -> None:
    admin = await core.user(Role.ADMIN)
    user = await core.users.create(
        admin, username="bob", password="secret", full_name="Bob", role=Role.CLIENT
    )
    pair = await core.auth.login("bob", "secret")
    assert pair.user.id == user.id
    assert (await core.auth.authenticate(pair.access)).id == user.id
    for username, password in [("bob", "wrong"), ("nobody", "secret")]:
        with pytest.raises(InvalidCredentials) as refusal:
            await core.auth.login(username, password)
        assert refusal.value.code == "invalid_credentials"


async def test_a_deactivated_user_can_neither_log_in_nor_use_tokens(core: Core) -> None:
    admin, user, pair = await core.signed_in("eve", Role.DEVELOPER)
    assert user.id is not None
    await core.users.update(admin, user.id, is_active=False)
    with pytest.raises(InvalidToken):
        await core.auth.authenticate(pair.access)
    with pytest.raises(InvalidToken):
        await core.auth.refresh(pair.refresh)
    with pytest.raises(InvalidCredentials):
        await core.auth.login("eve", "pw")


async def test_refresh_rotates_and_reuse_revokes_the_whole_family(core: Core) -> None:
    await core.users.create(None, username="amy", password="pw", full_name="Amy", role=Role.CLIENT)
    first = await core.auth.login("amy", "pw")
    second = await core.auth.refresh(first.refresh)
    assert second.refresh != first.refresh
    third = await core.auth.refresh(second.refresh)

    with pytest.raises(InvalidToken) as reuse:
        await core.auth.refresh(first.refresh)  # already rotated: theft is assumed
    assert reuse.value.code == "invalid_token"
    with pytest.raises(InvalidToken):
        await core.auth.refresh(third.refresh)  # the newest one of the family died too

    other = await core.auth.login("amy", "pw")  # a new login is a new family
    assert (await core.auth.refresh(other.refresh)).user.username == "amy"


async def test_token_types_and_expiry_are_enforced(core: Core) -> None:
    actor: Actor = await core.user(Role.CLIENT, password="pw")
    user = core.store.state.users[actor.id]
    pair = await core.auth.login(user.username, "pw")
    with pytest.raises(InvalidToken):
        await core.auth.authenticate(pair.refresh)
    with pytest.raises(InvalidToken):
        await core.auth.refresh(pair.access)
    core.clock.advance(16 * 60)
    with pytest.raises(TokenExpired) as expired:
        await core.auth.authenticate(pair.access)
    assert expired.value.code == "token_expired"


async def test_an_expired_refresh_token_is_invalid_token(core: Core) -> None:
    await core.users.create(None, username="old", password="pw", full_name="Old", role=Role.CLIENT)
    pair = await core.auth.login("old", "pw")
    core.clock.advance(8 * 24 * 3600)
    with pytest.raises(InvalidToken) as refusal:
        await core.auth.refresh(pair.refresh)
    assert refusal.value.code == "invalid_token"  # API.md: the refresh endpoint's one code

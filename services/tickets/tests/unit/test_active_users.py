"""The authentication's user cache: answers only while changes are heard, never stale."""

from __future__ import annotations

import pytest

from incident_contracts.enums import Role
from incident_tickets.domain.errors import InvalidToken
from incident_tickets.domain.users import User
from incident_tickets.service.active_users import ActiveUserCache

from .conftest import Core, build_core


def user(user_id: int, *, active: bool = True, role: Role = Role.CLIENT) -> User:
    return User(
        id=user_id,
        username=f"user{user_id}",
        full_name=f"User {user_id}",
        role=role,
        password_hash="x",
        is_active=active,
    )


class Ticking:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def trusted(cache: ActiveUserCache | None = None) -> ActiveUserCache:
    """A cache whose change notifications are being received."""
    cache = cache or ActiveUserCache()
    cache.trust()
    return cache


def test_an_untrusted_cache_keeps_nothing() -> None:
    cache = ActiveUserCache()
    cache.remember(user(1), cache.generation)
    assert cache.get(1) is None


def test_a_trusted_cache_answers_until_the_user_changes() -> None:
    cache = trusted()
    cache.remember(user(1), cache.generation)
    cache.remember(user(2), cache.generation)
    assert (cache.get(1), cache.get(2)) == (user(1), user(2))
    cache.changed("1")
    assert (cache.get(1), cache.get(2)) == (None, user(2))


def test_a_read_that_raced_with_a_change_is_not_kept() -> None:
    cache = trusted()
    generation = cache.generation  # the request starts reading user 1...
    cache.changed("1")  # ...another process deactivates it meanwhile...
    cache.remember(user(1), generation)  # ...and the read may be the old version
    assert cache.get(1) is None
    cache.remember(user(1), cache.generation)
    assert cache.get(1) == user(1)


def test_inactive_users_are_never_kept() -> None:
    cache = trusted()
    cache.remember(user(1, active=False), cache.generation)
    assert cache.get(1) is None


def test_losing_the_notifications_empties_the_cache_until_they_are_back() -> None:
    cache = trusted()
    cache.remember(user(1), cache.generation)
    cache.distrust()
    assert cache.get(1) is None
    cache.remember(user(1), cache.generation)
    assert cache.get(1) is None
    cache.trust()
    cache.remember(user(1), cache.generation)
    assert cache.get(1) == user(1)


def test_entries_expire_and_the_oldest_make_room() -> None:
    clock = Ticking()
    cache = trusted(ActiveUserCache(capacity=2, max_age=60.0, clock=clock))
    for user_id in (1, 2):
        cache.remember(user(user_id), cache.generation)
    clock.now = 30.0
    cache.remember(user(3), cache.generation)
    assert (cache.get(1), cache.get(2), cache.get(3)) == (None, user(2), user(3))
    clock.now = 61.0
    assert (cache.get(2), cache.get(3)) == (None, user(3))


def test_a_payload_that_is_no_id_empties_everything() -> None:
    cache = trusted()
    cache.remember(user(1), cache.generation)
    cache.changed("not an id")
    assert cache.get(1) is None


@pytest.fixture
def cached() -> Core:
    """The core with its authentication keeping users (as on PostgreSQL, listening)."""
    return build_core(trusted())


async def test_authentication_reuses_the_user_until_it_changes(cached: Core) -> None:
    admin, dev, pair = await cached.signed_in("dev", Role.DEVELOPER)
    assert dev.id is not None
    assert (await cached.auth.authenticate(pair.access)).role is Role.DEVELOPER
    # A change that nobody announced (the database behind the cache's back) is not seen...
    cached.store.state.users[dev.id].full_name = "Renamed"
    assert (await cached.auth.authenticate(pair.access)).full_name == "Dev"
    # ...a change made through the use case is, at once: role, then deactivation.
    await cached.users.update(admin, dev.id, role=Role.ADMIN)
    refreshed = await cached.auth.authenticate(pair.access)
    assert (refreshed.role, refreshed.full_name) == (Role.ADMIN, "Renamed")
    await cached.users.update(admin, dev.id, is_active=False)
    with pytest.raises(InvalidToken):
        await cached.auth.authenticate(pair.access)

from __future__ import annotations

from dataclasses import dataclass

import pytest

from incident_contracts.enums import Role
from incident_tickets.domain.users import Actor, User
from incident_tickets.service.active_users import ActiveUserCache
from incident_tickets.service.auth import AuthService, TokenPair
from incident_tickets.service.projects import ProjectService
from incident_tickets.service.tickets import TicketService
from incident_tickets.service.users import UserService
from incident_tickets.testing import FakePasswordHasher, FixedClock, InMemoryStore, InMemoryTokens


@dataclass
class Core:
    store: InMemoryStore
    clock: FixedClock
    tokens: InMemoryTokens
    auth: AuthService
    users: UserService
    projects: ProjectService
    tickets: TicketService

    async def user(self, role: Role, full_name: str = "", password: str = "pw") -> Actor:
        user = await self.users.create(
            None,
            username=f"{role.value.lower()}{len(self.store.state.users) + 1}",
            password=password,
            full_name=full_name or role.value.title(),
            role=role,
        )
        return user.actor

    async def signed_in(self, username: str, role: Role) -> tuple[Actor, User, TokenPair]:
        """An admin, and a new user of ``role`` created by it and logged in."""
        admin = await self.user(Role.ADMIN)
        user = await self.users.create(
            admin, username=username, password="pw", full_name=username.title(), role=role
        )
        assert user.id is not None
        return admin, user, await self.auth.login(username, "pw")


@pytest.fixture
def core() -> Core:
    return build_core()


def build_core(active_users: ActiveUserCache | None = None) -> Core:
    """``active_users``: the authentication's cache (none: every request reads its user)."""
    store = InMemoryStore()
    clock = FixedClock()
    tokens = InMemoryTokens(clock)
    hasher = FakePasswordHasher()
    return Core(
        store=store,
        clock=clock,
        tokens=tokens,
        auth=AuthService(store, hasher, tokens, tokens, clock, active_users=active_users),
        users=UserService(store, hasher, clock, active_users),
        projects=ProjectService(store, clock),
        tickets=TicketService(store, clock),
    )

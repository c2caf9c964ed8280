"""Demo data for a first start: one project, an admin, two developers, two clients.

Created through the tickets service's own use cases, so each user also produces its
``user.created`` event (the notifier learns who the admins are the normal way). A user that
exists already is left alone, so restarts and a database that was reset both just work.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from incident_contracts.enums import Role
from incident_tickets.domain.errors import UsernameTaken
from incident_tickets.domain.users import Actor
from incident_tickets.runtime import TicketsRuntime

log = logging.getLogger(__name__)

PROJECT_NAME = "Website Redesign"


@dataclass(frozen=True, slots=True)
class DemoUser:
    username: str
    password: str
    full_name: str
    role: Role

    def public(self) -> dict[str, str]:
        """What the console's one-click sign-in buttons need (dev mode only)."""
        return {
            "username": self.username,
            "password": self.password,
            "full_name": self.full_name,
            "role": self.role.value,
        }


DEMO_USERS = (
    DemoUser("admin", "admin-demo", "Ada Admin", Role.ADMIN),
    DemoUser("alice", "alice-demo", "Alice Developer", Role.DEVELOPER),
    DemoUser("bob", "bob-demo", "Bob Developer", Role.DEVELOPER),
    DemoUser("carol", "carol-demo", "Carol Client", Role.CLIENT),
    DemoUser("dave", "dave-demo", "Dave Client", Role.CLIENT),
)


async def ensure_demo_data(runtime: TicketsRuntime) -> bool:
    """Create whatever demo data is missing; True when anything was created."""
    created = False
    admin_id: int | None = None
    for demo in DEMO_USERS:
        try:
            user = await runtime.users.create(
                None,
                username=demo.username,
                password=demo.password,
                full_name=demo.full_name,
                role=demo.role,
            )
        except UsernameTaken:
            continue
        created = True
        if demo.role is Role.ADMIN:
            admin_id = user.id
    if admin_id is not None and not await runtime.projects.list_projects(limit=1, offset=0):
        await runtime.projects.create(Actor(id=admin_id, role=Role.ADMIN), PROJECT_NAME)
    if created:
        log.info("demo data created: project %r and %d users", PROJECT_NAME, len(DEMO_USERS))
    return created

"""Users and the acting user of a request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from incident_contracts.enums import Role
from incident_tickets.domain.errors import Forbidden


@dataclass(frozen=True, slots=True)
class Actor:
    """Who performs an action: enough to apply the role and ownership rules."""

    id: int
    role: Role


@dataclass(slots=True)
class User:
    username: str
    full_name: str
    role: Role
    password_hash: str
    is_active: bool = True
    id: int | None = None
    created_at: datetime | None = None

    @property
    def actor(self) -> Actor:
        assert self.id is not None, "a stored user has an id"
        return Actor(self.id, self.role)


def require_role(actor: Actor, role: Role, action: str) -> None:
    if actor.role is not role:
        raise Forbidden(f"Only a user with the {role.value} role may {action}.")

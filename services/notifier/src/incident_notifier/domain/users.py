"""The notifier's directory of users, kept from the tickets service's user events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

ADMIN_ROLE = "ADMIN"


@dataclass(frozen=True, slots=True)
class DirectoryUser:
    id: int
    username: str
    full_name: str
    role: str
    is_active: bool
    as_of: datetime
    """When the tickets service stated this; an older statement never overwrites a newer one."""

    @property
    def is_active_admin(self) -> bool:
        return self.is_active and self.role == ADMIN_ROLE

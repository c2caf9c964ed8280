"""Projects group tickets; only their name is shown to users."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(slots=True)
class Project:
    name: str
    created_at: datetime
    id: int | None = None

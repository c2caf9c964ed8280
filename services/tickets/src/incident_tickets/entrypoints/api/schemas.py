"""Request and response bodies (``TicketCreate`` in, ``TicketPublic`` out, ...)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from incident_contracts.enums import Category, Priority, Role, TicketStatus
from incident_tickets.domain.projects import Project
from incident_tickets.domain.users import User
from incident_tickets.service.views import TicketView


def _assume_utc(value: datetime) -> datetime:
    # A timestamp without a zone is read as UTC, the only zone this API speaks.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Timestamp = Annotated[datetime, AfterValidator(_assume_utc)]
RowId = Annotated[int, Field(ge=1, le=2**63 - 1)]
"""An id in a body: BIGINT, so a larger number is refused (422) before the database."""


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore", str_max_length=10_000)


class LoginRequest(_In):
    username: str
    password: str


class RefreshRequest(_In):
    refresh: str


class UserCreate(_In):
    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=1024)
    full_name: str = Field(min_length=1, max_length=200)
    role: Role


class UserUpdate(_In):
    full_name: str | None = Field(default=None, max_length=200)
    role: Role | None = None
    is_active: bool | None = None


class ProjectCreate(_In):
    name: str = Field(min_length=1, max_length=200)


class TicketCreate(_In):
    title: str = Field(min_length=1, max_length=255)
    description: str = ""
    priority: Priority
    category: Category
    project_id: RowId


class TicketAssign(_In):
    # Optional here so that the role, assignment and status checks come first; the ticket
    # itself refuses an empty list (422) after them.
    developer_ids: list[RowId] = Field(default_factory=list, max_length=1000)
    resolution_due_at: Timestamp | None = None


class TicketReject(_In):
    comment: str | None = None
    """Required and non-empty; checked after the role and status (see ``TicketAssign``)."""


class UserPublic(BaseModel):
    id: int
    username: str
    full_name: str
    role: Role
    is_active: bool

    @classmethod
    def of(cls, user: User) -> UserPublic:
        assert user.id is not None
        return cls(
            id=user.id,
            username=user.username,
            full_name=user.full_name,
            role=user.role,
            is_active=user.is_active,
        )


class LoginResponse(BaseModel):
    access: str
    refresh: str
    user: UserPublic


class RefreshResponse(BaseModel):
    access: str
    refresh: str


class ProjectPublic(BaseModel):
    id: int
    name: str
    created_at: datetime

    @classmethod
    def of(cls, project: Project) -> ProjectPublic:
        assert project.id is not None
        return cls(id=project.id, name=project.name, created_at=project.created_at)


class TicketPublic(BaseModel):
    id: int
    title: str
    description: str
    priority: Priority
    priority_display: str
    category: Category
    category_display: str
    status: TicketStatus
    status_display: str
    project_id: int
    project_name: str
    created_by: str
    """The creator's full name."""
    created_by_id: int
    assigned_to: list[int]
    assigned_to_names: list[str]
    created_at: datetime
    opened_at: datetime | None
    started_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    resolution_due_at: datetime | None
    rejection_comment: str | None
    updated_at: datetime

    @classmethod
    def of(cls, view: TicketView) -> TicketPublic:
        t = view.ticket
        assert t.id is not None
        return cls(
            id=t.id,
            title=t.title,
            description=t.description,
            priority=t.priority,
            priority_display=t.priority.display,
            category=t.category,
            category_display=t.category.display,
            status=t.status,
            status_display=t.status.display,
            project_id=t.project_id,
            project_name=view.project_name,
            created_by=view.created_by_name,
            created_by_id=t.created_by_id,
            assigned_to=list(t.assignee_ids),
            assigned_to_names=list(view.assigned_to_names),
            created_at=t.created_at,
            opened_at=t.opened_at,
            started_at=t.started_at,
            resolved_at=t.resolved_at,
            closed_at=t.closed_at,
            resolution_due_at=t.resolution_due_at,
            rejection_comment=t.rejection_comment,
            updated_at=t.updated_at,
        )


class ErrorBody(BaseModel):
    detail: str
    code: str

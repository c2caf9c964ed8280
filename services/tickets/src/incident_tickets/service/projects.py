"""Project use cases."""

from __future__ import annotations

from incident_contracts.enums import Role
from incident_tickets.domain.errors import ValidationFailed
from incident_tickets.domain.projects import Project
from incident_tickets.domain.users import Actor, require_role
from incident_tickets.service.ports import Clock, UnitOfWorkFactory


class ProjectService:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def create(self, actor: Actor, name: str) -> Project:
        require_role(actor, Role.ADMIN, "create projects")
        if not name.strip():
            raise ValidationFailed("The field 'name' must not be empty.")
        async with self._uow() as uow:
            project = await uow.projects.add(Project(name=name.strip(), created_at=self._clock()))
            await uow.commit()
            return project

    async def list_projects(self, *, limit: int, offset: int) -> list[Project]:
        async with self._uow.reading() as uow:
            return await uow.projects.newest(limit=limit, offset=offset)

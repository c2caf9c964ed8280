from __future__ import annotations

from fastapi import APIRouter

from incident_tickets.entrypoints.api.deps import CurrentActor, Paging, Runtime
from incident_tickets.entrypoints.api.schemas import ProjectCreate, ProjectPublic

router = APIRouter(prefix="/api/projects", tags=["projects"])


@router.post("/", status_code=201)
async def create_project(
    body: ProjectCreate, actor: CurrentActor, runtime: Runtime
) -> ProjectPublic:
    return ProjectPublic.of(await runtime.projects.create(actor, body.name))


@router.get("/")
async def list_projects(actor: CurrentActor, runtime: Runtime, page: Paging) -> list[ProjectPublic]:
    projects = await runtime.projects.list_projects(limit=page.limit, offset=page.offset)
    return [ProjectPublic.of(project) for project in projects]

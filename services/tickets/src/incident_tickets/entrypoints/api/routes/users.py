from __future__ import annotations

from fastapi import APIRouter

from incident_contracts.enums import Role
from incident_tickets.entrypoints.api.deps import CurrentActor, Paging, RowId, Runtime
from incident_tickets.entrypoints.api.schemas import UserCreate, UserPublic, UserUpdate

router = APIRouter(prefix="/api/users", tags=["users"])


@router.post("/", status_code=201)
async def create_user(body: UserCreate, actor: CurrentActor, runtime: Runtime) -> UserPublic:
    user = await runtime.users.create(
        actor,
        username=body.username,
        password=body.password,
        full_name=body.full_name,
        role=body.role,
    )
    return UserPublic.of(user)


@router.get("/")
async def list_users(
    actor: CurrentActor, runtime: Runtime, page: Paging, role: Role | None = None
) -> list[UserPublic]:
    users = await runtime.users.list_users(actor, role=role, limit=page.limit, offset=page.offset)
    return [UserPublic.of(user) for user in users]


@router.patch("/{user_id}/")
async def update_user(
    user_id: RowId, body: UserUpdate, actor: CurrentActor, runtime: Runtime
) -> UserPublic:
    user = await runtime.users.update(
        actor, user_id, full_name=body.full_name, role=body.role, is_active=body.is_active
    )
    return UserPublic.of(user)

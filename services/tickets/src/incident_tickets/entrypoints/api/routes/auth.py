from __future__ import annotations

from fastapi import APIRouter, Request

from incident_tickets.entrypoints.api.deps import CurrentUser, Runtime
from incident_tickets.entrypoints.api.schemas import (
    LoginRequest,
    LoginResponse,
    RefreshRequest,
    RefreshResponse,
    UserPublic,
)

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post("/login/")
async def login(body: LoginRequest, request: Request, runtime: Runtime) -> LoginResponse:
    address = request.client.host if request.client else None
    pair = await runtime.auth.login(body.username, body.password, address)
    return LoginResponse(access=pair.access, refresh=pair.refresh, user=UserPublic.of(pair.user))


@router.post("/refresh/")
async def refresh(body: RefreshRequest, runtime: Runtime) -> RefreshResponse:
    pair = await runtime.auth.refresh(body.refresh)
    return RefreshResponse(access=pair.access, refresh=pair.refresh)


@router.get("/me/")
async def me(user: CurrentUser) -> UserPublic:
    return UserPublic.of(user)

"""FastAPI dependencies: the runtime, the calling user, pagination."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Path, Query, Request

from incident_tickets.domain.errors import NotAuthenticated
from incident_tickets.domain.users import Actor, User
from incident_tickets.runtime import TicketsRuntime

MAX_PAGE = 200
MAX_ID = 2**63 - 1
"""Ids are BIGINT: a larger number names nothing and must not reach the database (a 500)."""

RowId = Annotated[int, Path(ge=1, le=MAX_ID)]


async def get_runtime(request: Request) -> TicketsRuntime:
    # async although it awaits nothing: FastAPI runs a plain ``def`` dependency in its
    # thread pool, a hand-off to another thread and back on every request.
    return cast(TicketsRuntime, request.app.state.runtime)


Runtime = Annotated[TicketsRuntime, Depends(get_runtime)]


async def current_user(request: Request, runtime: Runtime) -> User:
    header = request.headers.get("authorization")
    if not header:
        raise NotAuthenticated("Authentication credentials were not provided.")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip() or " " in token.strip():
        raise NotAuthenticated("The Authorization header must be 'Bearer <access token>'.")
    return await runtime.auth.authenticate(token.strip())


CurrentUser = Annotated[User, Depends(current_user)]


async def current_actor(user: CurrentUser) -> Actor:
    return user.actor


CurrentActor = Annotated[Actor, Depends(current_actor)]


class Page:
    def __init__(
        self,
        limit: Annotated[int, Query(ge=1, description="at most 200")] = 50,
        offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    ) -> None:
        self.limit = min(limit, MAX_PAGE)
        self.offset = offset


Paging = Annotated[Page, Depends()]

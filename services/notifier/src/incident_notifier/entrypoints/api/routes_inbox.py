"""The inbox of API.md: a user's own notifications, newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from incident_notifier.entrypoints.api.deps import CurrentUser, Services
from incident_notifier.entrypoints.api.schemas import (
    InboxPagePublic,
    NotificationPublic,
    ReadAllPublic,
    UnreadCountPublic,
)
from incident_notifier.service.inbox import DEFAULT_PAGE

router = APIRouter(prefix="/api/notifications", tags=["inbox"])


@router.get("/", response_model=InboxPagePublic)
async def list_notifications(
    user_id: CurrentUser,
    wired: Services,
    unread: bool = False,
    limit: Annotated[int, Query(ge=1)] = DEFAULT_PAGE,
    cursor: str | None = None,
) -> InboxPagePublic:
    page = await wired.inbox.listing(user_id, cursor=cursor, unread_only=unread, limit=limit)
    return InboxPagePublic(
        results=[NotificationPublic.of(record) for record in page.results],
        next=page.next_cursor,
    )


@router.get("/unread-count/", response_model=UnreadCountPublic)
async def unread_count(user_id: CurrentUser, wired: Services) -> UnreadCountPublic:
    return UnreadCountPublic(unread=await wired.inbox.unread_count(user_id))


@router.post("/read-all/", response_model=ReadAllPublic)
async def read_all(user_id: CurrentUser, wired: Services) -> ReadAllPublic:
    return ReadAllPublic(updated=await wired.inbox.mark_all_read(user_id))


@router.post("/{notification_id}/read/", status_code=204)
async def mark_read(notification_id: str, user_id: CurrentUser, wired: Services) -> Response:
    await wired.inbox.mark_read(user_id, notification_id)
    return Response(status_code=204)

"""Endpoints for the other services only; the public API gateway never routes /internal/."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from incident_contracts.notifications import ReplayPage
from incident_notifier.entrypoints.api.deps import Services
from incident_notifier.service.rendering import notification

router = APIRouter(prefix="/internal", tags=["internal"])


@router.get("/notifications/{user_id}/", response_model=ReplayPage)
async def replay(
    user_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    wired: Services,
    after_seq: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    limit: Annotated[int, Query(ge=1)] = 100,
) -> Response:
    """A user's records with seq above ``after_seq``, ascending: the gateways' replay."""
    records, has_more = await wired.inbox.replay(user_id, after_seq, limit)
    page = ReplayPage(results=[notification(record) for record in records], has_more=has_more)
    return Response(page.model_dump_json(), media_type="application/json")

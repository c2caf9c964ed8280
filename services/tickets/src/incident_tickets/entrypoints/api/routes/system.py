"""Health, readiness, metrics, the JWKS, and the internal users export (never routed publicly)."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST

from incident_contracts.events import UsersPage
from incident_contracts.names import USERS_EXPORT_PATH
from incident_contracts.tokens import JWKS_PATH
from incident_tickets.entrypoints.api.deps import MAX_ID, Runtime

log = logging.getLogger(__name__)
router = APIRouter(tags=["system"])
"""Health, readiness and metrics: served by every process role."""
keys_router = APIRouter(tags=["system"])
"""The JWKS and the internal users export: served by the API only."""


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(runtime: Runtime) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        await runtime.database_ready()
        checks["database"] = "ok"
    except Exception as error:
        log.warning("readiness: database unreachable: %s", error)
        checks["database"] = "unreachable"
    checks["broker"] = "ok" if await runtime.broker_ready() else "unreachable"
    failed = [name for name, state in checks.items() if state != "ok"]
    if failed:
        return JSONResponse(
            {
                "status": "unavailable",
                "checks": checks,
                "detail": f"Not ready: {', '.join(failed)} unreachable.",
                "code": "not_ready",
            },
            status_code=503,
        )
    return JSONResponse({"status": "ok", "checks": checks})


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(runtime: Runtime) -> Response:
    return Response(runtime.metrics.render(), media_type=CONTENT_TYPE_LATEST)


@keys_router.get(JWKS_PATH)
async def jwks(runtime: Runtime) -> dict[str, Any]:
    return runtime.signing_key.jwks()


@keys_router.get(USERS_EXPORT_PATH)
async def export_users(
    runtime: Runtime,
    after_id: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> UsersPage:
    users, has_more = await runtime.users.export(after_id, limit)
    return UsersPage(results=users, has_more=has_more)

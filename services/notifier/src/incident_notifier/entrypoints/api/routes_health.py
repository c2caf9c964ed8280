"""Liveness, readiness and metrics, shared by the API and the consumer processes."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from incident_notifier.adapters.prometheus_metrics import NotifierMetrics
from incident_notifier.entrypoints.api.deps import ReadinessCheck

router = APIRouter(tags=["health"])
CHECK_TIMEOUT = 2.0


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


async def _failure(check: ReadinessCheck) -> str | None:
    name, probe = check
    try:
        await asyncio.wait_for(probe(), CHECK_TIMEOUT)
    except Exception as error:
        return f"{name}: {error or type(error).__name__}"
    return None


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    checks: Sequence[ReadinessCheck] = request.app.state.readiness()
    failures = [failure for failure in await asyncio.gather(*map(_failure, checks)) if failure]
    if failures:
        return JSONResponse(
            {
                "status": "unavailable",
                "failed": failures,
                "code": "not_ready",
                "detail": "Not ready: " + "; ".join(failures) + ".",
            },
            status_code=503,
        )
    return JSONResponse({"status": "ok"})


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(request: Request) -> Response:
    registry: NotifierMetrics = request.app.state.metrics()
    return Response(registry.render(), media_type=registry.content_type)

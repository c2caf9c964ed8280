"""The plain HTTP routes served on the WebSocket port: /healthz, /readyz, /metrics."""

from __future__ import annotations

import email.utils
import json
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from websockets.datastructures import Headers
from websockets.http11 import Response

from incident_gateway.domain.errors import GatewayError

HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
METRICS_PATH = "/metrics"

ReadinessCheck = Callable[[], Awaitable[dict[str, str]]]
"""Returns the failed dependencies (name -> why); empty when everything answers."""


def plain_response(status: int, body: bytes, content_type: str) -> Response:
    headers = Headers(
        [
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Connection", "close"),
            ("Content-Length", str(len(body))),
            ("Content-Type", content_type),
            ("Cache-Control", "no-store"),
        ]
    )
    return Response(status, _PHRASES.get(status, "Error"), headers, body)


def json_response(status: int, body: dict[str, Any]) -> Response:
    return plain_response(status, json.dumps(body).encode(), "application/json")


def error_response(error: GatewayError) -> Response:
    """The one mapping of the gateway's errors to HTTP: ``{"detail", "code"}``."""
    return json_response(error.status, {"detail": error.detail, "code": error.code})


async def http_route(
    path: str, readiness: ReadinessCheck, exposition: Callable[[], bytes]
) -> Response | None:
    """The answer to a plain HTTP path, or None when the path is not one of these."""
    if path == HEALTH_PATH:
        return json_response(200, {"status": "ok"})
    if path == READY_PATH:
        failed = await readiness()
        if not failed:
            return json_response(200, {"status": "ok"})
        names = ", ".join(sorted(failed))
        return json_response(
            503,
            {
                "status": "unavailable",
                "detail": f"Not ready: {names} did not answer.",
                "code": "not_ready",
                "failed": failed,
            },
        )
    if path == METRICS_PATH:
        return plain_response(200, exposition(), CONTENT_TYPE_LATEST)
    return None


_PHRASES = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    503: "Service Unavailable",
}

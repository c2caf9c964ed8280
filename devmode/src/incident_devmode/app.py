"""The one ASGI application of the dev mode: every path of API.md, the WebSocket, the console.

Requests are dispatched by path to the services' own applications, unchanged (each serves
its production paths), so what runs here is the production code:

    /api/notifications...   the notifier's FastAPI app
    /api/..., /.well-known/ the tickets service's FastAPI app
    /ws/notifications/      the gateway's use cases, over ASGI (``asgi_websocket``)
    /healthz /readyz /metrics, /console/..., and the web console's files at /

``/internal/...`` is not served: the embedded parts reach each other in-process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from incident_devmode.asgi_websocket import NotificationsEndpoint
from incident_gateway.domain.auth import NOTIFICATIONS_PATHS
from incident_gateway.domain.errors import GatewayError
from incident_gateway.service.gateway import Gateway

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
NOTIFIER_PREFIX = "/api/notifications"
TICKETS_PREFIXES = ("/api/", "/.well-known/")
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Probe = Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class ConsoleHooks:
    """What the dev mode's own routes need to know about the running system."""

    readiness: Sequence[tuple[str, Probe]]
    expositions: Sequence[Callable[[], bytes]]
    demo_users: Sequence[dict[str, str]]
    gateway: Gateway
    notifications: NotificationsEndpoint


class DevApp:
    """Dispatches by path; runs ``lifespan`` (the whole system) around the server's life."""

    def __init__(
        self,
        *,
        tickets: ASGIApp,
        notifier: ASGIApp,
        notifications: NotificationsEndpoint,
        console: ASGIApp,
        lifespan: Callable[[], AbstractAsyncContextManager[None]],
    ) -> None:
        self._tickets = tickets
        self._notifier = notifier
        self._notifications = notifications
        self._console = console
        self._lifespan = lifespan

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._run_lifespan(receive, send)
            return
        path: str = scope["path"]
        if kind == "websocket":
            if path in NOTIFICATIONS_PATHS:
                await self._notifications(scope, receive, send)
            else:
                await send({"type": "websocket.close", "code": 1008, "reason": "not found"})
            return
        if path == NOTIFIER_PREFIX or path.startswith(NOTIFIER_PREFIX + "/"):
            await self._notifier(scope, receive, send)
        elif path.startswith(TICKETS_PREFIXES):
            await self._tickets(scope, receive, send)
        else:
            await self._console(scope, receive, send)

    async def _run_lifespan(self, receive: Receive, send: Send) -> None:
        message = await receive()
        assert message["type"] == "lifespan.startup"
        context = self._lifespan()
        try:
            await context.__aenter__()
        except BaseException as error:
            log.exception("the dev mode failed to start")
            await send({"type": "lifespan.startup.failed", "message": str(error)})
            return
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
        assert message["type"] == "lifespan.shutdown"
        try:
            await context.__aexit__(None, None, None)
        except Exception as error:
            log.exception("the dev mode did not stop cleanly")
            await send({"type": "lifespan.shutdown.failed", "message": str(error)})
            return
        await send({"type": "lifespan.shutdown.complete"})


def console_app(hooks: ConsoleHooks) -> Starlette:
    """Health, metrics, the console's dev-only helpers, and its static files."""

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        async def failure(name: str, probe: Probe) -> str | None:
            try:
                await asyncio.wait_for(probe(), 2.0)
            except Exception as error:
                return f"{name}: {error or type(error).__name__}"
            return None

        results = await asyncio.gather(*(failure(n, p) for n, p in hooks.readiness))
        failed = [result for result in results if result]
        if failed:
            detail = "Not ready: " + "; ".join(failed) + "."
            body = {"status": "unavailable", "failed": failed, "detail": detail}
            return JSONResponse(body | {"code": "not_ready"}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def metrics(request: Request) -> Response:
        text = b"".join(exposition() for exposition in hooks.expositions)
        return Response(text, media_type=PROMETHEUS_CONTENT_TYPE)

    async def demo_users(request: Request) -> JSONResponse:
        return JSONResponse(list(hooks.demo_users))

    async def drop_connections(request: Request) -> JSONResponse:
        """Close the caller's WebSockets as a server restart would (to watch a resume)."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return _error(401, "not_authenticated", "Authentication credentials were not provided.")
        try:
            identity = await hooks.gateway.identify(token.strip())
        except GatewayError as error:
            return _error(error.status, error.code, error.detail)
        return JSONResponse({"dropped": hooks.notifications.drop_user(identity.user_id)})

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "error")
        detail = {404: "There is nothing at this path.", 405: "This method is not allowed here."}
        return _error(error.status_code, code, detail.get(error.status_code, str(error.detail)))

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            Route("/console/demo-users.json", demo_users),
            Route("/console/drop-connections", drop_connections, methods=["POST"]),
            Mount("/", StaticFiles(directory=STATIC, html=True, follow_symlink=True)),
        ],
        exception_handlers={HTTPException: http_error},
    )


def _error(status: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail, "code": code}, status_code=status)

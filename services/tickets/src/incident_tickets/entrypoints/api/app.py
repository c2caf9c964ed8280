"""``create_app``: the FastAPI application over one ``TicketsRuntime``."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from incident_tickets.adapters.prometheus_metrics import TicketsMetrics, request_started
from incident_tickets.entrypoints.api import errors
from incident_tickets.entrypoints.api.routes import auth, projects, system, tickets, users
from incident_tickets.runtime import TicketsRuntime


def create_app(runtime: TicketsRuntime) -> FastAPI:
    """The API over a built runtime; its lifespan starts and closes the runtime."""
    app = _app(runtime, title="incident tickets")
    for module in (auth, users, projects, tickets):
        app.include_router(module.router)
    app.include_router(system.keys_router)
    return app


def create_relay_app(runtime: TicketsRuntime) -> FastAPI:
    """The standalone relay's probes: /healthz, /readyz (database, broker) and /metrics."""
    return _app(runtime, title="incident tickets outbox relay")


def _app(runtime: TicketsRuntime, *, title: str) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.close()

    app = FastAPI(
        title=title,
        version="1.0",
        lifespan=lifespan,
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
        # Metrics are Prometheus's (RequestTiming). FastAPI's own OpenTelemetry would only
        # run if a provider were configured, but it asks on every request; say no once.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.runtime = runtime
    errors.install(app)
    app.include_router(system.router)
    app.add_middleware(BodyLimit, max_bytes=runtime.settings.max_body_bytes)
    if runtime.settings.cors_allowed_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=runtime.settings.cors_allowed_origins,
            allow_methods=["GET", "POST", "PATCH"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        )
    app.add_middleware(RequestTiming, metrics=runtime.metrics)
    return app


class BodyLimit:
    """Request bodies past ``max_bytes`` are refused with 413 (by the one error handler).

    A declared Content-Length is refused before anything is read; a chunked body as soon
    as it grows past the limit. The refusal is raised where the route reads the body.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self._app = app
        self._max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        limit = self._max_bytes
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        too_large = not declared.isdigit() or int(declared) > limit
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            if too_large:
                raise PayloadTooLarge(limit)
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise PayloadTooLarge(limit)
            return message

        await self._app(scope, limited_receive, send)


class PayloadTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than {limit} bytes.")


class RequestTiming:
    """Marks when a request arrived (for request->commit) and times it by route template."""

    def __init__(self, app: ASGIApp, metrics: TicketsMetrics) -> None:
        self._app = app
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        token = request_started.set(started)
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, send_with_status)
        finally:
            request_started.reset(token)
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            self._metrics.http_requests.labels(scope["method"], template, str(status)).observe(
                time.perf_counter() - started
            )

"""The API process's FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from incident_notifier.entrypoints.api import routes_health, routes_inbox, routes_internal
from incident_notifier.entrypoints.api.deps import ApiServices
from incident_notifier.entrypoints.api.errors import install_error_handlers


def create_app(
    open_services: Callable[[], AbstractAsyncContextManager[ApiServices]],
    cors_allowed_origins: Sequence[str] = (),
) -> FastAPI:
    """``open_services`` wires the adapters when the app starts and closes them at shutdown
    (``bootstrap.api_services`` in production, in-memory fakes in tests).
    ``cors_allowed_origins``: browsers of these origins may call the API; none by default."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_services() as wired:
            app.state.services = wired
            yield

    app = FastAPI(title="incident notifier", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.readiness = lambda: app.state.services.readiness
    app.state.metrics = lambda: app.state.services.metrics
    install_error_handlers(app)
    app.include_router(routes_inbox.router)
    app.include_router(routes_internal.router)
    app.include_router(routes_health.router)
    if cors_allowed_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_allowed_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        )
    return app

"""The dev mode's one ASGI app sends each path to the service that owns it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from incident_devmode.app import DevApp
from incident_devmode.asgi_websocket import NotificationsEndpoint
from incident_gateway.service.gateway import Gateway
from incident_gateway.testing import (
    InMemoryDeliveryFeed,
    InMemoryMetrics,
    InMemoryPresenceStore,
    InMemoryReplaySource,
    StaticTokenAuthority,
)


def answering(name: str) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await PlainTextResponse(name)(scope, receive, send)

    return app


@asynccontextmanager
async def nothing() -> AsyncIterator[None]:
    yield


async def test_paths_go_to_their_service() -> None:
    app = DevApp(
        tickets=answering("tickets"),
        notifier=answering("notifier"),
        notifications=NotificationsEndpoint(
            Gateway(
                instance_id="test",
                tokens=StaticTokenAuthority(),
                presence=InMemoryPresenceStore(),
                feed=InMemoryDeliveryFeed(),
                replay=InMemoryReplaySource(),
                metrics=InMemoryMetrics(),
            )
        ),
        console=answering("console"),
        lifespan=nothing,
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://dev") as client:
        for path, owner in [
            ("/api/notifications/", "notifier"),
            ("/api/notifications/unread-count/", "notifier"),
            ("/api/notificationsx/", "tickets"),
            ("/api/tickets/1/open/", "tickets"),
            ("/api/auth/login/", "tickets"),
            ("/.well-known/jwks.json", "tickets"),
            ("/internal/users/", "console"),
            ("/", "console"),
            ("/healthz", "console"),
        ]:
            assert (await client.get(path)).text == owner, path

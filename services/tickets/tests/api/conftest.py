"""The real FastAPI app over SQLite in a temporary directory, with a fake broker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from incident_tickets.bootstrap import build
from incident_tickets.config import Settings
from incident_tickets.entrypoints.api import create_app
from incident_tickets.runtime import TicketsRuntime
from incident_tickets.testing import InMemoryEventPublisher

ADMIN = ("root", "root-password")
PASSWORD = "pw-123"


@dataclass
class Api:
    http: httpx.AsyncClient
    runtime: TicketsRuntime
    publisher: InMemoryEventPublisher
    admin_token: str

    async def call(
        self, method: str, path: str, token: str | None = None, **kwargs: Any
    ) -> tuple[int, Any]:
        headers = dict(kwargs.pop("headers", {}))
        if token:
            headers["Authorization"] = f"Bearer {token}"
        response = await self.http.request(method, path, headers=headers, **kwargs)
        return response.status_code, response.json() if response.content else None

    async def ok(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> Any:
        status, body = await self.call(method, path, token, **kwargs)
        assert status in (200, 201), (status, body)
        return body

    async def login(self, username: str, password: str = PASSWORD) -> dict[str, Any]:
        body: dict[str, Any] = await self.ok(
            "POST", "/api/auth/login/", json={"username": username, "password": password}
        )
        return body

    async def user(self, role: str, full_name: str | None = None) -> tuple[dict[str, Any], str]:
        """Create a user of ``role`` as the admin; returns (user JSON, access token)."""
        users = await self.ok("GET", "/api/users/", self.admin_token, params={"limit": 200})
        number = len(users)
        user = await self.ok(
            "POST",
            "/api/users/",
            self.admin_token,
            json={
                "username": f"{role.lower()}{number}",
                "password": PASSWORD,
                "full_name": full_name or f"{role.title()} {number}",
                "role": role,
            },
        )
        return user, (await self.login(user["username"]))["access"]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'tickets.db'}",
        data_dir=tmp_path,
        argon2_time_cost=1,
        argon2_memory_cost_kib=64,
        argon2_parallelism=1,
        relay_sweep_interval=0.05,
        bootstrap_admin_username=ADMIN[0],
        bootstrap_admin_password=ADMIN[1],
    )


MakeApi = Callable[..., Awaitable[Api]]


@pytest.fixture
async def make_api(settings: Settings) -> AsyncIterator[MakeApi]:
    started: list[tuple[TicketsRuntime, httpx.AsyncClient]] = []

    async def make(**overrides: Any) -> Api:
        publisher = InMemoryEventPublisher()
        runtime = build(settings.model_copy(update=overrides), publisher=publisher)
        # What the lifespan does under uvicorn: migrations, bootstrap admin, relay.
        await runtime.start()
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(runtime), raise_app_exceptions=False),
            base_url="http://tickets",
        )
        started.append((runtime, http))
        api = Api(http, runtime, publisher, "")
        api.admin_token = (await api.login(*ADMIN))["access"]
        return api

    yield make
    for runtime, http in started:
        await http.aclose()
        await runtime.close()


@pytest.fixture
async def api(make_api: MakeApi) -> Api:
    return await make_api()

"""The tickets API in-process (SQLite in a temporary directory, a fake broker)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from incident_tickets.bootstrap import build
from incident_tickets.config import Settings
from incident_tickets.entrypoints.api import create_app
from incident_tickets.testing import InMemoryEventPublisher

ADMIN = ("root", "root-password")
PASSWORD = "pw-123"


@dataclass
class TicketsApi:
    http: httpx.AsyncClient

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
        assert status in (200, 201), (method, path, status, body)
        return body

    async def login(self, username: str, password: str = PASSWORD) -> dict[str, Any]:
        body: dict[str, Any] = await self.ok(
            "POST", "/api/auth/login/", json={"username": username, "password": password}
        )
        return body


def tickets_settings(directory: Path, **overrides: Any) -> Settings:
    return Settings(
        database_url=f"sqlite:///{directory / 'tickets.db'}",
        data_dir=directory,
        argon2_time_cost=1,
        argon2_memory_cost_kib=64,
        argon2_parallelism=1,
        relay_sweep_interval=0.05,
        bootstrap_admin_username=ADMIN[0],
        bootstrap_admin_password=ADMIN[1],
        **overrides,
    )


@asynccontextmanager
async def serving_tickets(directory: Path, **overrides: Any) -> AsyncIterator[TicketsApi]:
    runtime = build(tickets_settings(directory, **overrides), publisher=InMemoryEventPublisher())
    await runtime.start()
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(runtime), raise_app_exceptions=False),
        base_url="http://tickets",
    )
    try:
        yield TicketsApi(http)
    finally:
        await http.aclose()
        await runtime.close()


@pytest.fixture
async def tickets_api(tmp_path: Path) -> AsyncIterator[TicketsApi]:
    async with serving_tickets(tmp_path) as api:
        yield api

"""The tickets service's internal export of its users, over HTTP."""

from __future__ import annotations

import httpx

from incident_contracts.events import UsersPage
from incident_contracts.names import USERS_EXPORT_PATH


class HttpUsersSource:
    def __init__(self, tickets_url: str, client: httpx.AsyncClient) -> None:
        self._url = tickets_url.rstrip("/") + USERS_EXPORT_PATH
        self._client = client

    async def users_after(self, after_id: int, limit: int) -> UsersPage:
        response = await self._client.get(
            self._url, params={"after_id": after_id, "limit": limit}, timeout=10.0
        )
        response.raise_for_status()
        return UsersPage.model_validate_json(response.content)

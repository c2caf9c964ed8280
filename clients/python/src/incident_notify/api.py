"""An async client of the HTTP API: sign in, renew tokens, act on tickets, read the inbox."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from incident_notify.tokens import Tokens

JsonObject = dict[str, Any]


class ApiError(Exception):
    """A failed request: ``status`` (0 when the server could not be reached), and the
    server's ``code`` and human ``detail``."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.detail} ({self.code})"


class SessionExpired(ApiError):
    """The tokens cannot be renewed any more: sign in again."""


class ApiClient:
    """One signed-in session. Tokens rotate on renewal; ``renew()`` is single-flight so the
    stream and the caller never spend the same refresh token twice."""

    def __init__(
        self,
        base_url: str,
        *,
        tokens: Tokens | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self.on_tokens: Callable[[Tokens], Awaitable[None] | None] | None = None
        self._http = httpx.AsyncClient(base_url=self.base_url, transport=transport, timeout=timeout)
        self._renew_lock = asyncio.Lock()

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- plumbing -----------------------------------------------------------------------
    async def request(
        self,
        method: str,
        path: str,
        *,
        json: JsonObject | None = None,
        params: dict[str, Any] | None = None,
        auth: bool = True,
    ) -> Any:
        for attempt in range(2):
            headers = {"Accept": "application/json"}
            if auth and self.tokens is not None:
                headers["Authorization"] = f"Bearer {self.tokens.access}"
            try:
                response = await self._http.request(
                    method, path, json=json, params=params, headers=headers
                )
            except httpx.HTTPError as error:
                raise ApiError(
                    0, "network_error", f"The server at {self.base_url} cannot be reached: {error}"
                ) from error
            if response.status_code == 401 and auth and attempt == 0 and self._can_renew():
                body = _json_or_none(response)
                if isinstance(body, dict) and body.get("code") == "token_expired":
                    await self.renew(expired=self.tokens.access if self.tokens else None)
                    continue
            return _result(response)
        raise AssertionError("unreachable")  # pragma: no cover

    def _can_renew(self) -> bool:
        return self.tokens is not None and self.tokens.refresh is not None

    async def renew(self, expired: str | None = None) -> Tokens:
        """Trade the refresh token for new tokens; raises SessionExpired when refused.

        ``expired``: the access token the caller found stale; when another task has already
        renewed it meanwhile, nothing is spent again.
        """
        async with self._renew_lock:
            if self.tokens is None or self.tokens.refresh is None:
                raise SessionExpired(
                    401, "token_expired", "The access token expired and there is no refresh token."
                )
            if expired is not None and self.tokens.access != expired:
                return self.tokens
            try:
                body = await self.request(
                    "POST", "/api/auth/refresh/", json={"refresh": self.tokens.refresh}, auth=False
                )
            except ApiError as error:
                if error.status in (401, 403):
                    raise SessionExpired(error.status, error.code, error.detail) from error
                raise
            self.tokens = Tokens(access=body["access"], refresh=body["refresh"])
        if self.on_tokens is not None:
            result = self.on_tokens(self.tokens)
            if result is not None:
                await result
        return self.tokens

    # --- auth ---------------------------------------------------------------------------
    async def login(self, username: str, password: str) -> JsonObject:
        body: JsonObject = await self.request(
            "POST",
            "/api/auth/login/",
            json={"username": username, "password": password},
            auth=False,
        )
        self.tokens = Tokens(access=body["access"], refresh=body["refresh"])
        return body

    async def me(self) -> JsonObject:
        result: JsonObject = await self.request("GET", "/api/auth/me/")
        return result

    # --- users, projects, tickets --------------------------------------------------------
    async def users(self, role: str | None = None) -> list[JsonObject]:
        result: list[JsonObject] = await self.request(
            "GET", "/api/users/", params={"role": role} if role else None
        )
        return result

    async def create_user(
        self, username: str, password: str, full_name: str, role: str
    ) -> JsonObject:
        body = {"username": username, "password": password, "full_name": full_name, "role": role}
        result: JsonObject = await self.request("POST", "/api/users/", json=body)
        return result

    async def projects(self) -> list[JsonObject]:
        result: list[JsonObject] = await self.request("GET", "/api/projects/")
        return result

    async def create_project(self, name: str) -> JsonObject:
        result: JsonObject = await self.request("POST", "/api/projects/", json={"name": name})
        return result

    async def tickets(self) -> list[JsonObject]:
        result: list[JsonObject] = await self.request("GET", "/api/tickets/")
        return result

    async def create_ticket(
        self, title: str, description: str, priority: str, category: str, project_id: int
    ) -> JsonObject:
        body = {
            "title": title,
            "description": description,
            "priority": priority,
            "category": category,
            "project_id": project_id,
        }
        result: JsonObject = await self.request("POST", "/api/tickets/", json=body)
        return result

    async def ticket_action(
        self, ticket_id: int, action: str, body: JsonObject | None = None
    ) -> JsonObject:
        """``action``: open, assign, start, finish, approve or reject."""
        result: JsonObject = await self.request(
            "POST", f"/api/tickets/{ticket_id}/{action}/", json=body
        )
        return result

    # --- inbox ----------------------------------------------------------------------------
    async def notifications(
        self, *, unread: bool = False, limit: int = 50, cursor: str | None = None
    ) -> JsonObject:
        params: dict[str, Any] = {"limit": limit}
        if unread:
            params["unread"] = "true"
        if cursor:
            params["cursor"] = cursor
        result: JsonObject = await self.request("GET", "/api/notifications/", params=params)
        return result

    async def unread_count(self) -> int:
        body = await self.request("GET", "/api/notifications/unread-count/")
        return int(body["unread"])

    async def mark_read(self, notification_id: str) -> None:
        await self.request("POST", f"/api/notifications/{notification_id}/read/")

    async def mark_all_read(self) -> int:
        body = await self.request("POST", "/api/notifications/read-all/")
        return int(body["updated"])


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _result(response: httpx.Response) -> Any:
    if response.status_code == 204:
        return None
    body = _json_or_none(response)
    if response.is_success:
        return body
    code = f"http_{response.status_code}"
    detail = f"The server answered {response.status_code} {response.reason_phrase}."
    if isinstance(body, dict):
        code = str(body.get("code") or code)
        if isinstance(body.get("detail"), str) and body["detail"]:
            detail = body["detail"]
    raise ApiError(response.status_code, code, detail)

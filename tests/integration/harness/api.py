"""A small typed client of the public HTTP API (API.md), for everyone's integration tests.

Each call returns the parsed JSON and raises ``ApiError`` (with the status and the body) when
the status is not the expected one::

    admin = TicketsApi(tickets.url).login_as(tickets.admin_username, tickets.admin_password)
    client = admin.user_session("CLIENT")
    ticket = client.create_ticket(admin.create_project()["id"])
    admin.open(ticket["id"])
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass
from typing import Any

import httpx

DEFAULT_PASSWORD = "correct horse battery staple"
_names = itertools.count(1)


class ApiError(AssertionError):
    def __init__(self, method: str, path: str, status: int, body: Any, expected: int) -> None:
        super().__init__(f"{method} {path}: expected {expected}, got {status}: {body!r}")
        self.status = status
        self.body = body


@dataclass(frozen=True)
class Tokens:
    access: str
    refresh: str
    user: dict[str, Any]


class TicketsApi:
    """One caller (anonymous, or the holder of ``access``) of the API at ``base_url``."""

    def __init__(self, base_url: str, access: str | None = None, *, timeout: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.access = access
        self.user: dict[str, Any] | None = None
        self._timeout = timeout

    # --- plumbing ---------------------------------------------------------------------
    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        expect: int = 200,
        headers: dict[str, str] | None = None,
    ) -> Any:
        sent = dict(headers or {})
        if self.access and "Authorization" not in sent:
            sent["Authorization"] = f"Bearer {self.access}"
        response = httpx.request(
            method,
            self.base_url + path,
            json=json,
            params=params,
            headers=sent,
            timeout=self._timeout,
        )
        body: Any = response.json() if response.content else None
        if response.status_code != expect:
            raise ApiError(method, path, response.status_code, body, expect)
        return body

    def with_token(self, access: str) -> TicketsApi:
        return TicketsApi(self.base_url, access, timeout=self._timeout)

    # --- auth ---------------------------------------------------------------------------
    def login(self, username: str, password: str = DEFAULT_PASSWORD) -> Tokens:
        body = self.call(
            "POST", "/api/auth/login/", json={"username": username, "password": password}
        )
        return Tokens(body["access"], body["refresh"], body["user"])

    def login_as(self, username: str, password: str = DEFAULT_PASSWORD) -> TicketsApi:
        """A new caller holding ``username``'s access token (``.user`` is their user JSON)."""
        tokens = self.login(username, password)
        session = self.with_token(tokens.access)
        session.user = tokens.user
        return session

    def refresh(self, refresh: str) -> Tokens:
        body = self.call("POST", "/api/auth/refresh/", json={"refresh": refresh})
        return Tokens(body["access"], body["refresh"], self.user or {})

    def me(self) -> dict[str, Any]:
        result: dict[str, Any] = self.call("GET", "/api/auth/me/")
        return result

    # --- users and projects (ADMIN) -----------------------------------------------------
    def create_user(
        self,
        role: str,
        *,
        username: str | None = None,
        password: str = DEFAULT_PASSWORD,
        full_name: str | None = None,
    ) -> dict[str, Any]:
        number = next(_names)
        username = username or f"{role.lower()}-{number}-{secrets.token_hex(3)}"
        full_name = full_name or f"{role.title()} Person {number}"
        result: dict[str, Any] = self.call(
            "POST",
            "/api/users/",
            json={"username": username, "password": password, "full_name": full_name, "role": role},
            expect=201,
        )
        return result

    def user_session(self, role: str, *, full_name: str | None = None) -> TicketsApi:
        """Create a user of ``role`` (as this admin) and return a caller logged in as them."""
        user = self.create_user(role, full_name=full_name)
        return self.login_as(user["username"])

    def update_user(self, user_id: int, **fields: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.call("PATCH", f"/api/users/{user_id}/", json=fields)
        return result

    def list_users(self, **params: Any) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.call("GET", "/api/users/", params=params)
        return result

    def create_project(self, name: str | None = None) -> dict[str, Any]:
        name = name or f"Project {next(_names)}"
        result: dict[str, Any] = self.call(
            "POST", "/api/projects/", json={"name": name}, expect=201
        )
        return result

    # --- tickets ------------------------------------------------------------------------
    def create_ticket(
        self,
        project_id: int,
        *,
        title: str = "Homepage not loading",
        description: str = "The homepage returns 500 error",
        priority: str = "HIGH",
        category: str = "BUG",
    ) -> dict[str, Any]:
        result: dict[str, Any] = self.call(
            "POST",
            "/api/tickets/",
            json={
                "title": title,
                "description": description,
                "priority": priority,
                "category": category,
                "project_id": project_id,
            },
            expect=201,
        )
        return result

    def get_ticket(self, ticket_id: int) -> dict[str, Any]:
        result: dict[str, Any] = self.call("GET", f"/api/tickets/{ticket_id}/")
        return result

    def list_tickets(self, **params: Any) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.call("GET", "/api/tickets/", params=params)
        return result

    def open(self, ticket_id: int) -> dict[str, Any]:
        return self._action(ticket_id, "open")

    def assign(
        self, ticket_id: int, developer_ids: list[int], resolution_due_at: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"developer_ids": developer_ids}
        if resolution_due_at is not None:
            body["resolution_due_at"] = resolution_due_at
        return self._action(ticket_id, "assign", body)

    def start(self, ticket_id: int) -> dict[str, Any]:
        return self._action(ticket_id, "start")

    def finish(self, ticket_id: int) -> dict[str, Any]:
        return self._action(ticket_id, "finish")

    def approve(self, ticket_id: int) -> dict[str, Any]:
        return self._action(ticket_id, "approve")

    def reject(self, ticket_id: int, comment: str) -> dict[str, Any]:
        return self._action(ticket_id, "reject", {"comment": comment})

    def _action(self, ticket_id: int, action: str, body: Any = None) -> dict[str, Any]:
        result: dict[str, Any] = self.call("POST", f"/api/tickets/{ticket_id}/{action}/", json=body)
        return result

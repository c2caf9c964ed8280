"""The tickets process while its database refuses it: 503 ``unavailable`` with Retry-After,
never a 500, and service again as soon as the database is back, without a restart.

The outage is made on the real server without stopping it (other tests share it): the
database stops accepting connections and the service's sessions are terminated.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
from harness.api import TicketsApi
from harness.infra import Infra
from harness.tickets import start_tickets
from harness.waiting import eventually


async def on_server(database_url: str, *statements: str) -> None:
    """Statements run from the server's maintenance database, as an operator would."""
    parts = urlsplit(database_url)
    connection = await asyncpg.connect(
        urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    )
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


async def test_requests_get_503_while_the_database_refuses_and_succeed_after(
    infra: Infra,
) -> None:
    tickets = start_tickets(infra, TICKETS_USER_CACHE_SECONDS="0")  # every request reads
    name = urlsplit(tickets.database_url).path.lstrip("/")
    try:
        admin = TicketsApi(tickets.url).login_as(tickets.admin_username, tickets.admin_password)
        token = admin.access
        assert admin.me()["username"] == tickets.admin_username

        await on_server(
            tickets.database_url,
            f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false',
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'",
        )
        try:
            async with httpx.AsyncClient(base_url=tickets.url, timeout=40) as http:
                for _ in range(3):  # the dead pooled connection, then refused new ones
                    answer = await http.get(
                        "/api/auth/me/", headers={"Authorization": f"Bearer {token}"}
                    )
                    assert answer.status_code == 503, answer.text
                    assert answer.json() == {
                        "detail": "The service's database is unavailable; please retry shortly.",
                        "code": "unavailable",
                    }
                    assert answer.headers["Retry-After"] == "1"
                ready = await http.get("/readyz")
                assert ready.status_code == 503
                assert ready.json()["checks"]["database"] == "unreachable"
        finally:
            await on_server(tickets.database_url, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')

        def status_of_me() -> int:
            headers = {"Authorization": f"Bearer {token}"}
            return httpx.get(f"{tickets.url}/api/auth/me/", headers=headers).status_code

        await eventually(status_of_me, 200)
        assert admin.me()["username"] == tickets.admin_username
        assert admin.create_user("CLIENT")["role"] == "CLIENT"
    finally:
        tickets.stop()

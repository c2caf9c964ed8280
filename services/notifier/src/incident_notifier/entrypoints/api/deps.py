"""What the routes depend on: the wired services (from ``bootstrap``) and the caller."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Protocol

from fastapi import Depends, Header, Request

from incident_auth import TokenRejected, TokenVerifier
from incident_notifier.adapters.prometheus_metrics import NotifierMetrics
from incident_notifier.domain.errors import NotAuthenticated
from incident_notifier.service.inbox import Inbox

ReadinessCheck = tuple[str, Callable[[], Awaitable[object]]]
"""A dependency's name and a call that raises when it cannot be reached."""


class ApiServices(Protocol):
    """What ``bootstrap`` wires for the API process (any object with these attributes)."""

    @property
    def inbox(self) -> Inbox: ...

    @property
    def verifier(self) -> TokenVerifier: ...

    @property
    def readiness(self) -> Sequence[ReadinessCheck]: ...

    @property
    def metrics(self) -> NotifierMetrics: ...


def services(request: Request) -> ApiServices:
    wired: ApiServices = request.app.state.services
    return wired


_INVALID = "invalid_token"
Services = Annotated[ApiServices, Depends(services)]


async def current_user_id(
    wired: Services, authorization: Annotated[str | None, Header()] = None
) -> int:
    """The caller's user id from ``Authorization: Bearer <access token>``."""
    if not authorization:
        raise NotAuthenticated("Authentication credentials were not provided.")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated(
            "The Authorization header must be 'Bearer <token>'.", "invalid_token"
        )
    try:
        claims = await wired.verifier.verify(token.strip())
    except TokenRejected as error:
        raise NotAuthenticated(error.detail, error.code) from error
    await wired.inbox.ensure_active(claims.user_id)
    return claims.user_id


CurrentUser = Annotated[int, Depends(current_user_id)]

"""Live ticket notifications of the incident system: an async client and a CLI.

Errors::

    ApiError           a failed HTTP request (status, code, detail)
      SessionExpired   the tokens cannot be renewed: sign in again
"""

from incident_notify.api import ApiClient, ApiError, SessionExpired
from incident_notify.backoff import Backoff
from incident_notify.events import (
    Connected,
    Disconnected,
    Event,
    Notification,
    ServerError,
    TokensRefreshed,
)
from incident_notify.protocol import ResumeState, SeenIds, socket_url
from incident_notify.stream import NotificationStream
from incident_notify.tokens import Tokens, token_expiry

__all__ = [
    "ApiClient",
    "ApiError",
    "Backoff",
    "Connected",
    "Disconnected",
    "Event",
    "Notification",
    "NotificationStream",
    "ResumeState",
    "SeenIds",
    "ServerError",
    "SessionExpired",
    "Tokens",
    "TokensRefreshed",
    "socket_url",
    "token_expiry",
]

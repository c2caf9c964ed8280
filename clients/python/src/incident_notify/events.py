"""What a notification stream yields: one small dataclass per kind of event."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Notification:
    """The notification object of the API, one per WebSocket text frame."""

    id: str
    seq: int
    notification_type: str
    message: str
    ticket: dict[str, Any] = field(default_factory=dict)
    timestamp: str = ""

    @classmethod
    def from_frame(cls, frame: dict[str, Any]) -> Notification:
        ticket = frame.get("ticket")
        return cls(
            id=str(frame["id"]),
            seq=int(frame["seq"]),
            notification_type=str(frame["notification_type"]),
            message=str(frame.get("message", "")),
            ticket=ticket if isinstance(ticket, dict) else {},
            timestamp=str(frame.get("timestamp", "")),
        )


@dataclass(frozen=True)
class Connected:
    """The socket is open; ``since`` is the seq it resumed after (None: live only)."""

    since: int | None


@dataclass(frozen=True)
class Disconnected:
    """The socket closed or could not open; the stream retries in ``retry_in`` seconds."""

    code: int | None
    reason: str
    retry_in: float


@dataclass(frozen=True)
class TokensRefreshed:
    access: str
    refresh: str | None


@dataclass(frozen=True)
class ServerError:
    """An ``{"type": "error"}`` frame: the server refused something the client sent."""

    code: str
    detail: str


Event = Notification | Connected | Disconnected | TokensRefreshed | ServerError

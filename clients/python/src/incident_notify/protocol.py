"""The client side of the notifications WebSocket, without I/O.

``ResumeState`` decides what URL to connect to, which frames are notifications worth
showing, and what a close code means. The asyncio layer (``stream.py``) only moves bytes.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from enum import Enum
from urllib.parse import urlencode, urlsplit, urlunsplit

from incident_notify.events import Notification, ServerError

WS_PATH = "/ws/notifications/"
CLOSE_TOKEN_EXPIRED = 4401
CLOSE_NORMAL = 1000


class SeenIds:
    """The most recent ``limit`` notification ids, to drop a notification seen already."""

    def __init__(self, limit: int = 2000) -> None:
        self._limit = limit
        self._ids: OrderedDict[str, None] = OrderedDict()

    def add(self, notification_id: str) -> bool:
        """True when the id is new (and now remembered), False for a duplicate."""
        if notification_id in self._ids:
            return False
        self._ids[notification_id] = None
        if len(self._ids) > self._limit:
            self._ids.popitem(last=False)
        return True


class AfterClose(Enum):
    RECONNECT = "reconnect"
    """Wait (backoff), then connect again and resume."""
    RENEW_THEN_RECONNECT = "renew"
    """The access token expired or was refused: renew it first."""


def socket_url(base_url: str, since: int | None) -> str:
    """``ws(s)://host/ws/notifications/?since=N`` from the HTTP base URL; never the token."""
    parts = urlsplit(base_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    query = urlencode({"since": since}) if since is not None else ""
    return urlunsplit((scheme, parts.netloc, WS_PATH, query, ""))


class ResumeState:
    """Where the stream is: the last seq seen, the ids already delivered."""

    def __init__(self, since: int | None = None, seen_limit: int = 2000) -> None:
        self.last_seq = since
        self._seen = SeenIds(seen_limit)

    def url(self, base_url: str) -> str:
        return socket_url(base_url, self.last_seq)

    def receive(self, text: str | bytes) -> Notification | ServerError | None:
        """Turn one frame into something to show, or None (pong, duplicate, garbage)."""
        try:
            frame = json.loads(text)
        except ValueError:
            return None
        if not isinstance(frame, dict):
            return None
        if frame.get("type") == "error":
            return ServerError(str(frame.get("code", "error")), str(frame.get("detail", "")))
        if "notification_type" not in frame:
            return None  # a pong, or something newer than this client
        try:
            notification = Notification.from_frame(frame)
        except (KeyError, TypeError, ValueError):
            return None
        if not self._seen.add(notification.id):
            return None
        if self.last_seq is None or notification.seq > self.last_seq:
            self.last_seq = notification.seq
        return notification

    @staticmethod
    def after_close(code: int | None) -> AfterClose:
        if code == CLOSE_TOKEN_EXPIRED:
            return AfterClose.RENEW_THEN_RECONNECT
        return AfterClose.RECONNECT


def ping_frame(timestamp: float) -> str:
    return json.dumps({"type": "ping", "timestamp": timestamp})


def refresh_frame(access: str) -> str:
    return json.dumps({"type": "refresh", "token": access})

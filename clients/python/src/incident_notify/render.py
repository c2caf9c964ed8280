"""How the CLI prints events: one readable line each, colour-coded by notification type."""

from __future__ import annotations

import json
from datetime import datetime

from incident_notify.events import (
    Connected,
    Disconnected,
    Event,
    Notification,
    ServerError,
    TokensRefreshed,
)

RESET = "\033[0m"
DIM = "\033[2m"
BOLD = "\033[1m"

# Green for good news, yellow for work in motion, red for rejections, blue for new tickets.
TYPE_COLOURS = {
    "ticket_created": "\033[34m",
    "ticket_opened": "\033[36m",
    "ticket_assigned": "\033[35m",
    "work_started": "\033[33m",
    "work_finished": "\033[32m",
    "ticket_approved": "\033[32;1m",
    "ticket_rejected": "\033[31;1m",
}
TYPE_LABELS = {
    "ticket_created": "CREATED",
    "ticket_opened": "OPENED",
    "ticket_assigned": "ASSIGNED",
    "work_started": "STARTED",
    "work_finished": "FINISHED",
    "ticket_approved": "APPROVED",
    "ticket_rejected": "REJECTED",
}


class Renderer:
    def __init__(self, *, colour: bool) -> None:
        self.colour = colour

    def _paint(self, code: str, text: str) -> str:
        return f"{code}{text}{RESET}" if self.colour else text

    def notification(self, note: Notification) -> str:
        label = TYPE_LABELS.get(note.notification_type, note.notification_type.upper())
        ticket_id = note.ticket.get("id")
        ticket = f" (ticket #{ticket_id})" if ticket_id is not None else ""
        when = _clock(note.timestamp)
        return (
            f"{self._paint(DIM, when)} {self._paint(DIM, f'#{note.seq:<4}')} "
            f"{self._paint(TYPE_COLOURS.get(note.notification_type, BOLD), f'{label:<9}')} "
            f"{note.message}{self._paint(DIM, ticket)}"
        )

    def status(self, event: Event) -> str | None:
        """A line for stderr about the connection, or None for events that are not status."""
        if isinstance(event, Connected):
            after = "live only" if event.since is None else f"resuming after #{event.since}"
            return self._paint(DIM, f"connected ({after})")
        if isinstance(event, Disconnected):
            code = f" [{event.code}]" if event.code is not None else ""
            why = f": {event.reason}" if event.reason else ""
            return self._paint(
                "\033[33m", f"disconnected{code}{why}; reconnecting in {event.retry_in:.1f} s"
            )
        if isinstance(event, TokensRefreshed):
            return self._paint(DIM, "access token renewed")
        if isinstance(event, ServerError):
            return self._paint("\033[31m", f"server error {event.code}: {event.detail}")
        return None


def as_json(note: Notification) -> str:
    """The notification as one JSON line, for piping into other tools."""
    return json.dumps(
        {
            "id": note.id,
            "seq": note.seq,
            "notification_type": note.notification_type,
            "message": note.message,
            "ticket": note.ticket,
            "timestamp": note.timestamp,
        }
    )


def _clock(timestamp: str) -> str:
    try:
        moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return timestamp or "--:--:--"
    return moment.astimezone().strftime("%H:%M:%S")

from __future__ import annotations

import json

import pytest

from incident_notify import Notification, ResumeState, SeenIds, ServerError, socket_url
from incident_notify.protocol import AfterClose


def frame(seq: int, notification_id: str | None = None) -> str:
    return json.dumps(
        {
            "id": notification_id or f"id-{seq}",
            "seq": seq,
            "notification_type": "ticket_opened",
            "message": f"message {seq}",
            "ticket": {"id": 7, "title": "Homepage"},
            "timestamp": "2025-12-23T10:00:00Z",
        }
    )


def test_the_url_resumes_after_the_last_seq_and_never_carries_the_token() -> None:
    assert socket_url("http://localhost:8000", None) == "ws://localhost:8000/ws/notifications/"
    assert socket_url("https://h.example/", 5) == "wss://h.example/ws/notifications/?since=5"


def test_notifications_advance_the_resume_point() -> None:
    state = ResumeState(since=3)
    first = state.receive(frame(4))
    assert first == Notification(
        id="id-4",
        seq=4,
        notification_type="ticket_opened",
        message="message 4",
        ticket={"id": 7, "title": "Homepage"},
        timestamp="2025-12-23T10:00:00Z",
    )
    state.receive(frame(5))
    assert state.last_seq == 5
    assert state.url("http://h") == "ws://h/ws/notifications/?since=5"


def test_a_notification_seen_already_is_dropped() -> None:
    state = ResumeState()
    assert state.receive(frame(1)) is not None
    assert state.receive(frame(1)) is None
    assert state.last_seq == 1


def test_an_older_seq_does_not_move_the_resume_point_back() -> None:
    state = ResumeState(since=10)
    assert state.receive(frame(4)) is not None
    assert state.last_seq == 10


@pytest.mark.parametrize(
    "text",
    ["not json", "[1, 2]", '{"type": "pong", "timestamp": 1}', '{"notification_type": "x"}'],
)
def test_frames_that_are_not_notifications_yield_nothing(text: str) -> None:
    assert ResumeState().receive(text) is None


def test_an_error_frame_is_reported() -> None:
    error = ResumeState().receive('{"type": "error", "code": "frame_too_large", "detail": "no"}')
    assert error == ServerError("frame_too_large", "no")


def test_an_expired_token_close_means_renew_first() -> None:
    assert ResumeState.after_close(4401) is AfterClose.RENEW_THEN_RECONNECT
    assert ResumeState.after_close(1006) is AfterClose.RECONNECT
    assert ResumeState.after_close(None) is AfterClose.RECONNECT


def test_seen_ids_forget_the_oldest_past_their_limit() -> None:
    seen = SeenIds(limit=2)
    assert seen.add("a")
    assert not seen.add("a")
    seen.add("b")
    seen.add("c")
    assert seen.add("a")

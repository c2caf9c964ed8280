"""The session rules of API.md ("WebSocket"), without any socket."""

from __future__ import annotations

import json

import pytest

from incident_gateway.domain.auth import Identity
from incident_gateway.domain.protocol import (
    CLOSE_POLICY_VIOLATION,
    CLOSE_TOKEN_EXPIRED,
    CLOSE_TRY_AGAIN_LATER,
    CloseConnection,
    Effect,
    FetchMissing,
    SendFrame,
    Session,
    SessionLimits,
    VerifyRefresh,
)

NOW = 1_000_000.0


def session(user_id: int = 7, expires_at: float = NOW + 60, **limits: float | int) -> Session:
    return Session(Identity(user_id, expires_at), SessionLimits(**limits), NOW)  # type: ignore[arg-type]


def frame(seq: int) -> bytes:
    return json.dumps({"seq": seq}).encode()


def sent(effects: list[Effect]) -> list[object]:
    return [json.loads(e.frame) for e in effects if isinstance(e, SendFrame)]


def seqs(effects: list[Effect]) -> list[int | None]:
    return [e.seq for e in effects if isinstance(e, SendFrame)]


# --- client frames ---------------------------------------------------------------------
@pytest.mark.parametrize("timestamp", [1735000000.5, "2025-12-23T10:00:00Z", None, [1, {"a": 2}]])
def test_ping_is_answered_with_the_same_timestamp(timestamp: object) -> None:
    effects = session().receive(json.dumps({"type": "ping", "timestamp": timestamp}), NOW)
    assert sent(effects) == [{"type": "pong", "timestamp": timestamp}]


def test_ping_without_timestamp_gets_a_bare_pong() -> None:
    assert sent(session().receive('{"type":"ping"}', NOW)) == [{"type": "pong"}]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ("not json", "invalid_json"),
        (b"\xff\xfe", "invalid_json"),
        ("[1, 2]", "invalid_message"),
        ('"ping"', "invalid_message"),
        ("{}", "invalid_message"),
        ('{"type": 3}', "invalid_message"),
        ('{"type": "subscribe"}', "unknown_type"),
        ('{"type": "refresh"}', "invalid_message"),
        ('{"type": "refresh", "token": ""}', "invalid_message"),
    ],
)
def test_bad_frames_get_an_error_frame_and_the_session_goes_on(
    data: str | bytes, code: str
) -> None:
    subject = session()
    [error] = sent(subject.receive(data, NOW))
    assert isinstance(error, dict)
    assert error["type"] == "error"
    assert error["code"] == code
    assert isinstance(error["detail"], str)
    assert error["detail"]
    assert sent(subject.receive('{"type":"ping","timestamp":1}', NOW)) == [
        {"type": "pong", "timestamp": 1}
    ]


def test_a_flood_beyond_the_burst_closes_with_1008() -> None:
    subject = session(frames_per_second=10, burst=5)
    for _ in range(5):
        assert sent(subject.receive('{"type":"ping"}', NOW)) == [{"type": "pong"}]
    assert subject.receive('{"type":"ping"}', NOW) == [
        CloseConnection(CLOSE_POLICY_VIOLATION, "too many messages")
    ]
    assert subject.receive('{"type":"ping"}', NOW + 10) == []  # closed: nothing more
    assert subject.deliver(1, frame(1)) == []


def test_the_rate_refills_over_time() -> None:
    subject = session(frames_per_second=10, burst=2)
    for second in range(20):
        for half in (0.0, 0.1):
            effects = subject.receive('{"type":"ping"}', NOW + second + half)
            assert sent(effects) == [{"type": "pong"}]


# --- expiry and refresh ----------------------------------------------------------------
def test_expiry_closes_with_4401() -> None:
    subject = session(expires_at=NOW + 10)
    assert subject.tick(NOW + 9.9) == []
    assert subject.tick(NOW + 10) == [CloseConnection(CLOSE_TOKEN_EXPIRED, "token expired")]
    assert subject.tick(NOW + 11) == []


def test_refresh_with_a_token_of_the_same_user_extends_the_expiry() -> None:
    subject = session(expires_at=NOW + 10)
    assert subject.receive('{"type":"refresh","token":"abc"}', NOW) == [VerifyRefresh("abc")]
    assert sent(subject.refresh_accepted(Identity(7, NOW + 100))) == [
        {"type": "refreshed", "expires_at": int(NOW + 100)}
    ]
    assert subject.tick(NOW + 50) == []
    assert subject.tick(NOW + 100) == [CloseConnection(CLOSE_TOKEN_EXPIRED, "token expired")]


def test_refresh_with_another_users_token_is_forbidden_and_changes_nothing() -> None:
    subject = session(expires_at=NOW + 10)
    [error] = sent(subject.refresh_accepted(Identity(8, NOW + 100)))
    assert error == {
        "type": "error",
        "code": "forbidden",
        "detail": "The new token belongs to another user.",
    }
    assert subject.user_id == 7
    assert subject.tick(NOW + 10) == [CloseConnection(CLOSE_TOKEN_EXPIRED, "token expired")]


def test_refused_refresh_reports_the_verifiers_code() -> None:
    [error] = sent(session().refresh_refused("token_expired", "The token has expired."))
    assert error == {"type": "error", "code": "token_expired", "detail": "The token has expired."}


# --- live deliveries -------------------------------------------------------------------
def test_without_since_the_first_live_delivery_is_the_baseline() -> None:
    subject = session()
    assert subject.start(None) == []
    assert seqs(subject.deliver(41, frame(41), routed_at_ms=5)) == [41]
    assert seqs(subject.deliver(42, frame(42))) == [42]
    assert subject.last_seq == 42


def test_repeats_are_dropped() -> None:
    subject = session()
    subject.deliver(5, frame(5))
    assert subject.deliver(5, frame(5)) == []
    assert subject.deliver(3, frame(3)) == []


def test_the_frame_is_sent_as_routed() -> None:
    raw = b'{"id":"x","seq":1,"message":"caf\xc3\xa9"}'
    [effect] = session().deliver(1, raw, routed_at_ms=123)
    assert effect == SendFrame(raw, 1, 123)


def test_a_gap_fetches_the_missing_records_before_the_later_one() -> None:
    subject = session()
    subject.deliver(1, frame(1))
    assert subject.deliver(4, frame(4)) == [FetchMissing(1)]
    assert subject.deliver(5, frame(5)) == []  # held while fetching
    effects = subject.replayed([(2, frame(2)), (3, frame(3)), (4, frame(4))], has_more=False)
    assert seqs(effects) == [2, 3, 4, 5]
    assert subject.fetching is False
    assert seqs(subject.deliver(6, frame(6))) == [6]


def test_a_gap_the_store_has_not_caught_up_with_is_retried_then_given_up() -> None:
    subject = session(gap_retries=2, gap_retry_delay=0.5)
    subject.deliver(1, frame(1))
    assert subject.deliver(3, frame(3)) == [FetchMissing(1)]
    assert subject.replayed([], has_more=False) == [FetchMissing(1, 0.5)]
    assert subject.replayed([], has_more=False) == [FetchMissing(1, 1.0)]
    # The record never appears: send what there is rather than hold it forever.
    assert seqs(subject.replayed([], has_more=False)) == [3]
    assert subject.fetching is False


# --- resume with since -----------------------------------------------------------------
def test_since_replays_in_pages_while_holding_live_ones_then_goes_live() -> None:
    subject = session()
    assert subject.start(10) == [FetchMissing(10)]
    assert subject.deliver(13, frame(13)) == []
    assert subject.deliver(14, frame(14)) == []
    first = subject.replayed([(11, frame(11)), (12, frame(12))], has_more=True)
    assert seqs(first) == [11, 12]
    assert first[-1] == FetchMissing(12)
    assert subject.deliver(15, frame(15)) == []
    second = subject.replayed([(13, frame(13)), (14, frame(14))], has_more=False)
    assert seqs(second) == [13, 14, 15]  # 13 and 14 once, though routed and stored
    assert seqs(subject.deliver(16, frame(16))) == [16]
    assert subject.deliver(15, frame(15)) == []


def test_since_with_nothing_missed_goes_straight_to_live() -> None:
    subject = session()
    subject.start(3)
    assert subject.replayed([], has_more=False) == []
    assert seqs(subject.deliver(4, frame(4))) == [4]


def test_too_many_held_deliveries_close_the_connection() -> None:
    subject = session(max_held=3)
    subject.start(0)
    for seq in (1, 2, 3):
        assert subject.deliver(seq, frame(seq)) == []
    assert subject.deliver(4, frame(4)) == [
        CloseConnection(CLOSE_TRY_AGAIN_LATER, "too far behind, resume with since")
    ]


def test_replay_failure_closes_so_the_client_resumes() -> None:
    subject = session()
    subject.start(5)
    assert subject.replay_failed() == [
        CloseConnection(CLOSE_TRY_AGAIN_LATER, "missed notifications unavailable")
    ]

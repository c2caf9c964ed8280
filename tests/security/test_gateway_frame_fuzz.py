"""Any client frame, bytes or text: an error frame, a pong, a refresh check or a close.

Hypothesis drives the gateway's sans-I/O session (``protocol.Session.receive``) with
arbitrary input and checks that it never raises and that every frame it would send is valid
UTF-8 JSON, so the connection handler never dies on what a client sends.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incident_gateway.domain.auth import Identity
from incident_gateway.domain.protocol import (
    CloseConnection,
    Effect,
    SendFrame,
    Session,
    SessionLimits,
    VerifyRefresh,
)

NOW = 1_000_000.0
FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
messages = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["ping", "refresh", "subscribe", ""]) | json_values,
        "timestamp": json_values,
        "token": json_values,
    },
).map(lambda message: json.dumps(message))
# Lone surrogates as JSON escapes decode to str that cannot be encoded back to UTF-8.
surrogates = st.integers(0xD800, 0xDFFF).map(
    lambda point: '{"type":"ping","timestamp":"\\u' + f"{point:04x}" + '"}'
)
nesting = st.integers(1, 70_000).map(lambda depth: "[" * depth + "]" * depth)
frames = st.one_of(st.binary(max_size=512), st.text(max_size=512), messages, surrogates, nesting)


def check(effects: list[Effect]) -> None:
    for effect in effects:
        assert isinstance(effect, SendFrame | CloseConnection | VerifyRefresh), effect
        if isinstance(effect, SendFrame):
            message: Any = json.loads(effect.frame.decode("utf-8"))
            assert isinstance(message, dict)
            assert message["type"] in ("error", "pong"), message
            if message["type"] == "error":
                assert isinstance(message["code"], str)
                assert isinstance(message["detail"], str)


@FUZZ
@given(st.lists(frames, min_size=1, max_size=5))
def test_any_frame_yields_an_answer_or_a_close_never_an_exception(
    batch: list[str | bytes],
) -> None:
    session = Session(Identity(7, NOW + 60), SessionLimits(), NOW)
    for data in batch:
        check(session.receive(data, NOW))
    # The session still serves after any of it (under the flood limit).
    [pong] = session.receive('{"type":"ping","timestamp":1}', NOW)
    assert isinstance(pong, SendFrame)
    assert json.loads(pong.frame) == {"type": "pong", "timestamp": 1}


@FUZZ
@given(frames)
def test_a_flood_of_any_frames_ends_in_one_policy_close(data: str | bytes) -> None:
    session = Session(Identity(7, NOW + 60), SessionLimits(frames_per_second=5, burst=5), NOW)
    effects = [effect for _ in range(10) for effect in session.receive(data, NOW)]
    check(effects)
    closes = [effect for effect in effects if isinstance(effect, CloseConnection)]
    assert [close.code for close in closes] == [1008]
    assert session.receive(data, NOW) == []

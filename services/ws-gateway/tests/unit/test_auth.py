"""Reading a handshake: path, token from the query or the subprotocol header, since, Origin."""

from __future__ import annotations

import pytest

from incident_gateway.domain.auth import Admission, bearer_from_subprotocols, read_admission
from incident_gateway.domain.errors import (
    HandshakeRefused,
    InvalidQuery,
    NotAuthenticated,
    NotFound,
    OriginNotAllowed,
)


def test_token_from_the_query_string() -> None:
    assert read_admission("/ws/notifications/?token=abc.def.ghi", [], None) == Admission(
        "abc.def.ghi", via_subprotocol=False, since=None
    )


def test_token_from_the_subprotocol_header_and_since() -> None:
    admission = read_admission("/ws/notifications/?since=42", ["bearer, abc.def"], None)
    assert admission == Admission("abc.def", via_subprotocol=True, since=42)


def test_the_path_without_trailing_slash_is_the_same_endpoint() -> None:
    assert read_admission("/ws/notifications?token=t", [], None).token == "t"


@pytest.mark.parametrize(
    ("headers", "token"),
    [
        (["bearer, tok"], "tok"),
        (["Bearer,tok"], "tok"),
        (["bearer", "tok"], "tok"),
        (["chat, bearer, tok"], "tok"),
        (["bearer"], None),
        (["chat"], None),
        ([], None),
    ],
)
def test_bearer_subprotocol(headers: list[str], token: str | None) -> None:
    assert bearer_from_subprotocols(headers) == token


@pytest.mark.parametrize(
    ("target", "headers", "error", "code", "status"),
    [
        ("/ws/notifications/", [], NotAuthenticated, "not_authenticated", 401),
        ("/ws/notifications/?token=", [], NotAuthenticated, "not_authenticated", 401),
        ("/ws/other/?token=t", [], NotFound, "not_found", 404),
        ("/ws/notifications/?token=t&since=abc", [], InvalidQuery, "validation_error", 400),
        ("/ws/notifications/?token=t&since=-1", [], InvalidQuery, "validation_error", 400),
    ],
)
def test_refusals_carry_status_and_code(
    target: str, headers: list[str], error: type[HandshakeRefused], code: str, status: int
) -> None:
    with pytest.raises(error) as raised:
        read_admission(target, headers, None)
    assert raised.value.code == code
    assert raised.value.status == status
    assert raised.value.detail.endswith(".")


def test_origin_allowlist() -> None:
    allowed = ["https://app.example.com"]
    target = "/ws/notifications/?token=t"
    assert read_admission(target, [], "https://app.example.com/", allowed).token == "t"
    assert read_admission(target, [], None, allowed).token == "t"  # not a browser
    assert read_admission(target, [], "https://evil.example.net", []).token == "t"  # no list
    with pytest.raises(OriginNotAllowed) as raised:
        read_admission(target, [], "https://evil.example.net", allowed)
    assert (raised.value.status, raised.value.code) == (403, "forbidden")

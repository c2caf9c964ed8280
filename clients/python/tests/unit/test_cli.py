from __future__ import annotations

import pytest

from incident_notify.cli import build_parser, main
from incident_notify.events import Connected, Disconnected, Notification
from incident_notify.render import Renderer, as_json

NOTE = Notification(
    id="n1",
    seq=42,
    notification_type="ticket_created",
    message="New High priority ticket created: Homepage not loading",
    ticket={"id": 1},
    timestamp="2025-12-23T10:00:00Z",
)


def test_help_explains_the_listen_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args(["listen", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for words in ("--base", "--username", "--token", "--since", "INCIDENT_PASSWORD", "Ctrl-C"):
        assert words in text


def test_listen_needs_a_user_or_a_token(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["listen", "--base", "http://127.0.0.1:9"])
    assert done.value.code == 2
    assert "give --username" in capsys.readouterr().err


def test_a_notification_prints_on_one_line_without_colour_when_asked() -> None:
    line = Renderer(colour=False).notification(NOTE)
    assert line.endswith(
        "#42   CREATED   New High priority ticket created: Homepage not loading (ticket #1)"
    )
    assert "\033[" not in line


def test_colour_codes_the_type() -> None:
    assert "\033[34mCREATED  \033[0m" in Renderer(colour=True).notification(NOTE)


def test_status_lines_say_what_happens_to_the_connection() -> None:
    renderer = Renderer(colour=False)
    assert renderer.status(Connected(since=41)) == "connected (resuming after #41)"
    assert (
        renderer.status(Disconnected(1006, "", 1.25))
        == "disconnected [1006]; reconnecting in 1.2 s"
    )
    assert renderer.status(NOTE) is None


def test_json_output_is_the_server_shape() -> None:
    assert as_json(NOTE) == (
        '{"id": "n1", "seq": 42, "notification_type": "ticket_created", "message": '
        '"New High priority ticket created: Homepage not loading", "ticket": {"id": 1}, '
        '"timestamp": "2025-12-23T10:00:00Z"}'
    )

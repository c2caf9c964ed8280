"""``incident-notify listen`` against the dev mode: what a person sees in a terminal."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
from harness.devmode import DEMO_PASSWORDS, RunningDevMode, start_devmode

pytestmark = pytest.mark.integration

WAIT = 20.0


class Listener:
    """The CLI as a subprocess, its stdout and stderr read line by line as they come."""

    def __init__(self, devmode: RunningDevMode, username: str, *args: str) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "incident_notify",
                "listen",
                "--base",
                devmode.url,
                "--username",
                username,
                "--password-stdin",
                "--no-color",
                *args,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "NO_COLOR": "1"},
            preexec_fn=_default_sigint,
        )
        assert self.process.stdin is not None
        self.process.stdin.write(DEMO_PASSWORDS[username] + "\n")
        self.process.stdin.close()
        self.out: queue.Queue[str] = queue.Queue()
        self.err: queue.Queue[str] = queue.Queue()
        self.err_lines: list[str] = []
        self._pumps = [
            threading.Thread(target=_pump, args=(stream, lines), daemon=True)
            for stream, lines in ((self.process.stdout, self.out), (self.process.stderr, self.err))
        ]
        for pump in self._pumps:
            pump.start()

    def wait_for_status(self, text: str) -> str:
        """The next stderr line containing ``text`` (earlier ones are kept in err_lines)."""
        while True:
            line = self.err.get(timeout=WAIT)
            self.err_lines.append(line)
            if text in line:
                return line

    def printed(self, count: int) -> list[str]:
        return [self.out.get(timeout=WAIT) for _ in range(count)]

    def finish(self) -> int:
        code = self.process.wait(timeout=WAIT)
        while not self.err.empty():
            self.err_lines.append(self.err.get())
        return code

    def close(self) -> None:
        """Kill it if it still runs, and release its pipes."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=WAIT)
        for pump in self._pumps:
            pump.join(timeout=WAIT)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def _default_sigint() -> None:
    """Give the CLI Ctrl-C as a terminal does. A suite started in the background by a shell
    without job control runs with SIGINT ignored, which children inherit and Python keeps:
    the CLI would then never see the SIGINT these tests send."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _pump(stream: IO[str] | None, lines: queue.Queue[str]) -> None:
    assert stream is not None
    for line in stream:
        lines.put(line.rstrip("\n"))


@pytest.fixture
def devmode(tmp_path: Path) -> Iterator[RunningDevMode]:
    running = start_devmode(tmp_path, name="devmode-cli")
    try:
        yield running
    finally:
        running.stop()


def test_help_explains_everything() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "incident_notify", "listen", "--help"],
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    assert done.returncode == 0
    for words in ("--base", "--username", "--token", "--since", "--count", "Ctrl-C", "NO_COLOR"):
        assert words in done.stdout


def test_it_prints_the_notifications_of_a_lifecycle(devmode: RunningDevMode) -> None:
    listener = Listener(devmode, "carol", "--count", "4")
    try:
        assert "signed in as Carol Client (CLIENT)" in listener.wait_for_status("signed in")
        listener.wait_for_status("connected")
        carol, admin, alice = (devmode.login_as(name) for name in ("carol", "admin", "alice"))
        ticket = carol.create_ticket(carol.call("GET", "/api/projects/")[0]["id"], title="VPN down")
        tid = ticket["id"]
        admin.open(tid)
        assert alice.user is not None
        admin.assign(tid, [alice.user["id"]])
        alice.start(tid)
        alice.finish(tid)
        carol.reject(tid, "Still down")  # goes to the admin and alice, not to carol
        alice.finish(tid)
        lines = listener.printed(4)
        assert listener.finish() == 0
    finally:
        listener.close()
    expected = [
        f"#1    OPENED    Your ticket 'VPN down' has been opened and acknowledged by admin "
        f"(ticket #{tid})",
        f"#2    STARTED   Work has started on your ticket: VPN down (ticket #{tid})",
        f"#3    FINISHED  Work completed on your ticket 'VPN down'. Please review and approve. "
        f"(ticket #{tid})",
        f"#4    FINISHED  Work completed on your ticket 'VPN down'. Please review and approve. "
        f"(ticket #{tid})",
    ]
    for line, wanted in zip(lines, expected, strict=True):
        clock, rest = line.split(" ", 1)
        assert len(clock) == 8  # HH:MM:SS, local time
        assert rest == wanted
    assert not any("\033[" in line for line in lines)


def test_it_resumes_after_the_server_restarts(devmode: RunningDevMode) -> None:
    listener = Listener(devmode, "admin", "--count", "2")
    try:
        listener.wait_for_status("connected")
        carol = devmode.login_as("carol")
        project_id = carol.call("GET", "/api/projects/")[0]["id"]
        carol.create_ticket(project_id, title="Before the restart")
        first = listener.printed(1)
        devmode.process.terminate()
        listener.wait_for_status("disconnected")
        devmode.process.start()
        # Written right after the restart: delivered on reconnection (a replay after the seq
        # it printed last) or live, and either way printed once, in order.
        devmode.login_as("carol").create_ticket(project_id, title="After the restart")
        second = listener.printed(1)
        assert listener.finish() == 0
    finally:
        listener.close()
    assert first[0].endswith(
        "CREATED   New High priority ticket created: Before the restart (ticket #1)"
    )
    assert "#1 " in first[0]
    assert second[0].endswith(
        "CREATED   New High priority ticket created: After the restart (ticket #2)"
    )
    assert "#2 " in second[0]
    assert any("connected (resuming after #1)" in line for line in listener.err_lines)


def test_ctrl_c_exits_cleanly(devmode: RunningDevMode) -> None:
    listener = Listener(devmode, "dave")
    try:
        listener.wait_for_status("connected")
        listener.process.send_signal(signal.SIGINT)
        code = listener.finish()
    finally:
        listener.close()
    assert code == 130
    assert listener.err_lines[-1] == "stopped"
    assert not any("Traceback" in line for line in listener.err_lines)

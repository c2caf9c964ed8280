"""The processes of `make stack`: started in sessions of their own, their output relayed
line by line into one stream with the process's name in front, stopped by signal.

Each child also asks the kernel for SIGTERM should this script die without cleaning up
(PR_SET_PDEATHSIG), so a `kill -9` of the stack leaves nothing behind.
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TextIO

ROOT = Path(__file__).resolve().parents[1]
PR_SET_PDEATHSIG = 1
STARTUP_TIMEOUT = 60.0


class Log:
    """One output stream for every process; a line is written whole, prefixed by its source."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def __call__(self, name: str, line: str) -> None:
        with self._lock:
            self._stream.write(f"{name:<18}| {line.rstrip()}\n")
            self._stream.flush()


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: if this script is killed outright (SIGKILL),
    # the kernel sends SIGTERM to its children, so nothing is left behind.
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Managed:
    name: str
    argv: list[str]
    env: dict[str, str]
    health_url: str | None
    process: subprocess.Popen[str] | None = None
    reader: threading.Thread | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def start(self, log: Log) -> None:
        self.process = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            errors="replace",
            # Its own session: a Ctrl-C in the terminal reaches this script only, which then
            # stops the processes in order (gateway first, so clients are not cut mid-request).
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        self.reader = threading.Thread(
            target=_pump, args=(self.name, self.process.stdout, log), daemon=True
        )
        self.reader.start()

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait_stopped(self, deadline: float) -> int | None:
        if self.process is None:
            return None
        try:
            return self.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(5)


def _pump(name: str, stream: IO[str] | None, log: Log) -> None:
    if stream is None:
        return
    for line in stream:
        log(name, line)


def wait_healthy(service: Managed, stop: threading.Event, timeout: float = STARTUP_TIMEOUT) -> None:
    assert service.health_url is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stop.is_set():
        code = service.exited()
        if code is not None:
            raise RuntimeError(f"{service.name} exited with code {code} while starting")
        try:
            with urllib.request.urlopen(service.health_url, timeout=1.0) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    if not stop.is_set():
        raise RuntimeError(
            f"{service.name} not healthy at {service.health_url} after {timeout:.0f} s"
        )

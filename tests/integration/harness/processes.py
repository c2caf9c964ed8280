"""Real service processes, started the way an operator starts them, watched over HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "logs"


class ServiceProcess:
    """One service process; its output goes to ``test-artifacts/logs/<name>.log``."""

    def __init__(
        self,
        name: str,
        args: Sequence[str],
        *,
        env: Mapping[str, str],
        health_url: str,
        startup_timeout: float = 30.0,
    ) -> None:
        self.name = name
        self.args = [sys.executable, *args] if args[0] == "-m" else list(args)
        self.env = {**os.environ, **env}
        self.health_url = health_url
        self.startup_timeout = startup_timeout
        self.log_path = ARTIFACTS / f"{name}.log"
        # The file keeps earlier runs' output; this process's own starts here.
        self._log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> ServiceProcess:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        log.write(f"\n===== start {' '.join(self.args)}\n".encode())
        log.flush()
        self._process = subprocess.Popen(
            self.args, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        self.wait_healthy()
        return self

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self._process.returncode}: {self.tail()}"
                )
            try:
                if httpx.get(self.health_url, timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(
            f"{self.name} not healthy after {self.startup_timeout:.0f} s: {self.tail()}"
        )

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no cleanup at all, as when a machine dies."""
        self._signal(signal.SIGKILL)

    def terminate(self, timeout: float = 20.0) -> int | None:
        """SIGTERM and wait: the graceful shutdown path."""
        return self._signal(signal.SIGTERM, timeout)

    def restart(self) -> ServiceProcess:
        self.terminate()
        return self.start()

    def _signal(self, signum: int, timeout: float = 20.0) -> int | None:
        process = self._process
        if process is None or process.poll() is not None:
            return None if process is None else process.returncode
        process.send_signal(signum)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait(5)

    def log_text(self) -> str:
        """Everything this process (and its restarts) wrote, none of an earlier run's."""
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as log:
            log.seek(self._log_start)
            return log.read().decode(errors="replace")

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:]) or "(no log)"

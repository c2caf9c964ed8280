"""The benchmark's CPU accounting counts processes that start or end during a step.

Under load PostgreSQL starts a backend per new connection and ends it when the connection
closes; a sampler that only reads the processes alive at both ends misses all of that work.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from bench.suite.common import ProcessSampler, with_children

# Burns argv[1] seconds of CPU, waits for the file argv[3] if given, then burns argv[2] more.
BURN = """
import os, sys, time
def burn(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass
burn(float(sys.argv[1]))
if len(sys.argv) > 3:
    while not os.path.exists(sys.argv[3]):
        time.sleep(0.01)
    burn(float(sys.argv[2]))
"""

# Reads "run SECONDS" (a child that burns and ends, waited for), "spawn A B FILE" (a child
# that burns A, waits for FILE, burns B) and "wait" (waits for the spawned child).
PARENT = """
import subprocess, sys
child = None
for line in sys.stdin:
    words = line.split()
    if words[0] == "run":
        subprocess.run([sys.executable, "-c", BURN, words[1]], check=True)
    elif words[0] == "spawn":
        child = subprocess.Popen([sys.executable, "-c", BURN, *words[1:]])
    elif words[0] == "wait":
        child.wait()
    print("ok", flush=True)
"""


class Parent:
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", f"BURN = {BURN!r}\n{PARENT}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def tell(self, command: str) -> None:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline().strip() == "ok"

    def sampler(self) -> ProcessSampler:
        return ProcessSampler(lambda: {"group": with_children(self.process.pid)})


@pytest.fixture
def parent() -> Iterator[Parent]:
    started = Parent()
    try:
        yield started
    finally:
        # A child left waiting (a failed test) would hold the pipes open: end the whole tree.
        for process in with_children(started.process.pid)[::-1]:
            process.kill()
        started.process.communicate()  # waits, and closes the pipes


def used(sampler: ProcessSampler) -> float:
    return sampler.stop()["group"]["cpu_seconds"]


def test_children_born_and_ended_during_the_step_count(parent: Parent) -> None:
    sampler = parent.sampler()
    sampler.start()
    parent.tell("run 0.3")
    parent.tell("run 0.3")
    # Each child also starts an interpreter (some tens of ms); none of it is outside the step.
    assert 0.6 <= used(sampler) <= 1.0


def test_a_child_that_ends_during_the_step_counts_only_its_time_in_the_step(
    parent: Parent, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    parent.tell(f"spawn 0.5 0.3 {go}")
    child = psutil.Process(parent.process.pid).children()[0]
    deadline = time.monotonic() + 30
    while sum(child.cpu_times()[:2]) < 0.5:  # its first burn is before the step
        assert time.monotonic() < deadline, "the child did not burn its first half"
        time.sleep(0.02)
    sampler = parent.sampler()
    sampler.start()
    go.touch()
    parent.tell("wait")
    assert 0.25 <= used(sampler) <= 0.45

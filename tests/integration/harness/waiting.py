"""Waiting for what another process does: fail with a sentence when it does not come."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


def wait_until(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Polls ``check`` every 50 ms; fails naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


async def eventually(read: Callable[[], object], expected: object, within: float = 5.0) -> None:
    """Fails unless ``read()`` returns ``expected`` within ``within`` seconds, saying what it
    returned last; polls every 50 ms without blocking the event loop."""
    deadline = asyncio.get_running_loop().time() + within
    while (value := read()) != expected:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"still {value!r}, expected {expected!r}")
        await asyncio.sleep(0.05)

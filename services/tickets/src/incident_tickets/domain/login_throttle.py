"""Failed logins counted per username and per client address, in a sliding window.

Once either count reaches its limit, every login attempt for that username (or from that
address) is refused until the oldest failure leaves the window, even with the right
password: guessing passwords costs at most ``max_failures`` tries per window. A success
clears its username's count. The state lives in the process: with N replicas an attacker
gets up to N times the limit (a shared store would be needed for exact limits).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

MAX_KEYS = 100_000
"""Keys remembered at most; past it, the ones with no recent failure are forgotten first."""


@dataclass(slots=True)
class _Window:
    limit: int
    seconds: float
    max_keys: int
    failures: dict[str, deque[float]] = field(default_factory=dict)

    def retry_after(self, key: str, now: float) -> float | None:
        times = self._recent(key, now)
        if self.limit <= 0 or times is None or len(times) < self.limit:
            return None
        return max(times[-self.limit] + self.seconds - now, 0.001)

    def fail(self, key: str, now: float) -> None:
        if self.limit <= 0:
            return
        times = self._recent(key, now)
        if times is None:
            if len(self.failures) >= self.max_keys:
                self._forget(now)
            times = self.failures[key] = deque(maxlen=self.limit)
        times.append(now)

    def clear(self, key: str) -> None:
        self.failures.pop(key, None)

    def _recent(self, key: str, now: float) -> deque[float] | None:
        times = self.failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.seconds:
            times.popleft()
        if not times:
            del self.failures[key]
            return None
        return times

    def _forget(self, now: float) -> None:
        for key in list(self.failures):
            self._recent(key, now)
        while len(self.failures) >= self.max_keys:  # all recent: drop the oldest keys
            del self.failures[next(iter(self.failures))]


class LoginThrottle:
    def __init__(
        self,
        per_username: int,
        per_address: int,
        window_seconds: float,
        *,
        max_keys: int = MAX_KEYS,
    ) -> None:
        """Limits of 0 disable that count."""
        self._usernames = _Window(per_username, window_seconds, max_keys)
        self._addresses = _Window(per_address, window_seconds, max_keys)

    def retry_after(self, username: str, address: str | None, now: float) -> float | None:
        """Seconds until an attempt may be made; None when it may be made now."""
        waits = [self._usernames.retry_after(username.lower(), now)]
        if address:
            waits.append(self._addresses.retry_after(address, now))
        known = [wait for wait in waits if wait is not None]
        return max(known) if known else None

    def failed(self, username: str, address: str | None, now: float) -> None:
        self._usernames.fail(username.lower(), now)
        if address:
            self._addresses.fail(address, now)

    def succeeded(self, username: str) -> None:
        self._usernames.clear(username.lower())

"""How long to wait before the next reconnection attempt."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Exponential backoff with "equal jitter".

    Each step doubles (``factor``) up to ``maximum``; half of the step is fixed and half is
    random, so many clients dropped at once spread their retries out, yet none retries in a
    tight loop. ``reset()`` after a connection that opened.
    """

    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0
    random: Callable[[], float] = field(default=random.random, repr=False)
    attempt: int = 0

    def next(self) -> float:
        step = min(self.maximum, self.initial * self.factor**self.attempt)
        self.attempt += 1
        return step / 2 + self.random() * step / 2

    def reset(self) -> None:
        self.attempt = 0

from __future__ import annotations

from incident_notify import Backoff


def test_steps_double_up_to_the_ceiling_with_jitter_in_the_upper_half() -> None:
    low = Backoff(initial=1.0, maximum=8.0, random=lambda: 0.0)
    assert [low.next() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    high = Backoff(initial=1.0, maximum=8.0, random=lambda: 1.0)
    assert [high.next() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_reset_starts_again_from_the_initial_step() -> None:
    backoff = Backoff(initial=1.0, maximum=8.0, random=lambda: 1.0)
    backoff.next()
    backoff.next()
    backoff.reset()
    assert backoff.next() == 1.0

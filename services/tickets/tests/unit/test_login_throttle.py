"""The sliding windows of failed logins, per username and per address (no I/O)."""

from __future__ import annotations

import pytest

from incident_tickets.domain.login_throttle import LoginThrottle


def test_a_username_is_refused_after_its_failures_until_the_oldest_leaves_the_window() -> None:
    throttle = LoginThrottle(per_username=3, per_address=0, window_seconds=60)
    for second in (0, 10, 20):
        assert throttle.retry_after("amy", None, second) is None
        throttle.failed("amy", None, second)
    assert throttle.retry_after("amy", None, 30) == pytest.approx(30)
    assert throttle.retry_after("AMY", None, 30) == pytest.approx(30)
    assert throttle.retry_after("bob", None, 30) is None
    assert throttle.retry_after("amy", None, 60) is None  # the failure at 0 has left
    throttle.failed("amy", None, 60)
    assert throttle.retry_after("amy", None, 61) == pytest.approx(9)


def test_an_address_is_refused_after_failures_over_many_usernames() -> None:
    throttle = LoginThrottle(per_username=10, per_address=2, window_seconds=60)
    throttle.failed("a", "10.0.0.1", 0)
    throttle.failed("b", "10.0.0.1", 1)
    assert throttle.retry_after("c", "10.0.0.1", 2) == pytest.approx(58)
    assert throttle.retry_after("c", "10.0.0.2", 2) is None
    assert throttle.retry_after("c", None, 2) is None


def test_a_success_clears_its_username_only() -> None:
    throttle = LoginThrottle(per_username=2, per_address=3, window_seconds=60)
    throttle.failed("amy", "10.0.0.1", 0)
    throttle.failed("amy", "10.0.0.1", 1)
    assert throttle.retry_after("amy", None, 2) is not None
    throttle.succeeded("amy")
    assert throttle.retry_after("amy", None, 2) is None
    throttle.failed("bob", "10.0.0.1", 2)
    assert throttle.retry_after("zed", "10.0.0.1", 3) is not None  # the address still counts


def test_zero_disables_a_limit() -> None:
    throttle = LoginThrottle(per_username=0, per_address=0, window_seconds=60)
    for second in range(100):
        throttle.failed("amy", "10.0.0.1", second)
    assert throttle.retry_after("amy", "10.0.0.1", 100) is None


def test_memory_is_bounded() -> None:
    throttle = LoginThrottle(per_username=1, per_address=0, window_seconds=60, max_keys=5)
    for n in range(20):
        throttle.failed(f"user{n}", None, n)
    refused = [n for n in range(20) if throttle.retry_after(f"user{n}", None, 20) is not None]
    assert len(refused) <= 5
    assert 19 in refused  # the newest are kept

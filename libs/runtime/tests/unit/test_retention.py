"""The retention timer over a scripted prune: the cutoff follows the clock, batches repeat
until a short one, the counts reach the metric, the log lines name what went, and the timer
survives a failing database and stops."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest

from incident_runtime import Prune, RetentionTimer

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


class ScriptedPrune:
    """Answers each call with the next count, or raises the next error; 0 once done."""

    def __init__(self, answers: list[int | Exception]) -> None:
        self.answers = answers
        self.calls: list[tuple[datetime, int]] = []

    async def __call__(self, cutoff: datetime, limit: int) -> int:
        self.calls.append((cutoff, limit))
        answer = self.answers.pop(0) if self.answers else 0
        if isinstance(answer, Exception):
            raise answer
        return answer


def timer(
    prune: Prune,
    pruned: list[int],
    *,
    retention: timedelta = HOUR,
    interval: float = 600.0,
    first_delay: float = 30.0,
    batch_size: int = 1000,
) -> RetentionTimer:
    return RetentionTimer(
        prune,
        pruned.append,
        lambda: NOW,
        name="things",
        rows="rows made",
        retention=retention,
        interval=interval,
        first_delay=first_delay,
        batch_size=batch_size,
    )


async def test_full_batches_repeat_with_one_cutoff_until_a_short_one() -> None:
    prune, pruned = ScriptedPrune([10, 10, 3, 10]), list[int]()
    retention = timer(prune, pruned, retention=7 * 24 * HOUR, batch_size=10)
    assert await retention.prune_once() == 23
    assert prune.calls == [(NOW - 7 * 24 * HOUR, 10)] * 3
    assert pruned == [10, 10, 3]


async def test_the_cutoff_follows_the_clock() -> None:
    clock = [NOW]
    prune, pruned = ScriptedPrune([]), list[int]()
    retention = RetentionTimer(
        prune, pruned.append, lambda: clock[0], name="things", rows="rows made", retention=HOUR
    )
    await retention.prune_once()
    clock[0] = NOW + 2 * HOUR
    await retention.prune_once()
    assert [cutoff for cutoff, _ in prune.calls] == [NOW - HOUR, NOW + HOUR]


async def test_nothing_to_prune_records_nothing() -> None:
    pruned: list[int] = []
    assert await timer(ScriptedPrune([]), pruned).prune_once() == 0
    assert pruned == []


async def test_the_log_lines_say_what_went_before_which_cutoff(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="incident_runtime")
    retention = timer(ScriptedPrune([2]), [], batch_size=10)
    await retention.prune_once()
    await retention.prune_once()
    cutoff = (NOW - HOUR).isoformat()
    assert caplog.messages == [
        f"things retention: deleted 2 rows made before {cutoff}",
        f"things retention: no rows made before {cutoff}",
    ]


async def test_the_timer_runs_soon_after_start_again_after_a_failure_and_stops(
    caplog: pytest.LogCaptureFixture,
) -> None:
    prune, pruned = ScriptedPrune([ConnectionError("database away"), 2]), list[int]()
    retention = timer(prune, pruned, interval=0.01, first_delay=0.01)
    retention.start()
    assert any(task.get_name() == "things-retention" for task in asyncio.all_tasks())
    try:
        for _ in range(500):
            if pruned:
                break
            await asyncio.sleep(0.01)
    finally:
        await retention.stop()
    assert pruned == [2]
    assert len(prune.calls) >= 2
    assert "things retention: pruning failed (database away); next try in 0 s" in caplog.messages
    assert not any(task.get_name() == "things-retention" for task in asyncio.all_tasks())


async def test_a_stop_ends_a_run_between_two_batches() -> None:
    pruned: list[int] = []

    async def full_batch_then_stop(cutoff: datetime, limit: int) -> int:
        await retention.stop()  # as the process shuts down mid-run
        return limit

    retention = timer(full_batch_then_stop, pruned, batch_size=5)
    assert await retention.prune_once() == 5
    assert pruned == [5]

"""The chaos run in small (`make chaos` is the full one): the stack of `make stack` with a
private Redis, a few users over WebSocket through nginx (some on two devices), ticket
lifecycles driven through the API while two faults are injected in turn; then every accepted
action's notifications (API.md's rules) must be stored once, with per-user seq 1..n, and
received by every device of the recipient exactly once and in seq order.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence

import pytest
from harness.chaos import Action, Device, Plan, Received, User, audit, chaos_stack, run_chaos
from harness.infra import Infra

SMALL = Plan(users=16, two_devices=0.25, workers=2, warm_up=2.0, between=3.0, settle=40.0)


def run(infra: Infra, suffix: str, schedule: Sequence[str]) -> None:
    plan = dataclasses.replace(SMALL, schedule=tuple(schedule))
    lines: list[str] = []
    with chaos_stack(infra, f"{infra.namespace}ch{suffix}") as stack:
        report = asyncio.run(run_chaos(stack, plan, lines.append))
    summary = "\n".join([*lines, report.table(), *report.details])
    assert report.actions > 20, summary
    assert report.expected == report.stored, summary
    assert report.stored_missing == 0, summary
    assert report.stored_extra == 0, summary
    assert report.seq_faults == 0, summary
    assert report.failed_lifecycles == 0, summary
    assert report.missing == 0, summary
    assert report.duplicated == 0, summary
    assert report.out_of_order == 0, summary
    assert report.delivered >= report.expected, summary


def test_one_gateway_killed_then_the_other_drained(infra: Infra) -> None:
    """SIGKILL of one ws-gateway (its clients reconnect through nginx to the other and
    resume with since), then SIGTERM of the other (1012, all clients move back). It found
    nginx admitting one WebSocket per gateway every 10 s after each had refused once."""
    run(infra, "gw", ["gateway SIGKILL", "gateway SIGTERM"])


def test_notifier_killed_then_redis_restarted(infra: Infra) -> None:
    """SIGKILL of the notifier consumer mid-stream (redelivered events create nothing twice),
    then a restart of Redis (presence and streams forgotten). It found the last notifications
    routed while Redis was away never delivered."""
    run(infra, "nr", ["notifier SIGKILL", "redis restart"])


def _device(frames: list[tuple[int, str, str, int]]) -> Device:
    device = Device(User(7, "u", "CLIENT", "token"), "client-7/a")
    device.frames = [Received(seq, nid, kind, ticket, 1.0) for seq, nid, kind, ticket in frames]
    return device


@pytest.mark.parametrize(
    ("frames", "missing", "duplicated", "out_of_order"),
    [
        ([(1, "a", "ticket_opened", 1), (2, "b", "work_started", 1)], 0, 0, 0),
        ([(1, "a", "ticket_opened", 1)], 1, 0, 0),
        ([(1, "a", "ticket_opened", 1), (1, "a", "ticket_opened", 1)], 1, 1, 0),
        ([(2, "b", "work_started", 1), (1, "a", "ticket_opened", 1)], 0, 0, 2),
    ],
)
def test_the_audit_can_fail(
    frames: list[tuple[int, str, str, int]], missing: int, duplicated: int, out_of_order: int
) -> None:
    """The audit counts what a device lacks, receives twice, or receives out of seq order."""
    actions = [
        Action("open", 1, 1, [7], "ticket_opened", 0.0, "warm-up"),
        Action("start", 1, 2, [7], "work_started", 0.0, "warm-up"),
    ]
    stored = [
        {"user_id": 7, "seq": 1, "notification_type": "ticket_opened", "t": 1},
        {"user_id": 7, "seq": 2, "notification_type": "work_started", "t": 1},
    ]
    report = audit(actions, [_device(frames)], stored, retries=0)
    assert (report.missing, report.duplicated, report.out_of_order) == (
        missing,
        duplicated,
        out_of_order,
    )
    assert report.ok is (missing == duplicated == out_of_order == 0)

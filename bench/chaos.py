"""`make chaos`: the distributed stack under load while faults are injected, then an audit.

Starts the processes of `make stack` (tickets, notifier api + consumer, two ws-gateways,
nginx) in a namespace and databases of their own, with a private redis-server on a free port
(the machine's shared Redis is never touched), against the PostgreSQL and RabbitMQ of
DATABASE_URL and AMQP_URL. Connects --users users over WebSocket through nginx (a tenth on
two devices), drives ticket lifecycles through the API without pause, and injects in turn:
a RabbitMQ restart (rabbitmqctl stop_app / start_app), a Redis restart, SIGKILL of the
notifier consumer (started again), SIGKILL of one ws-gateway (its clients reconnect to the
other and resume), SIGTERM of a ws-gateway (graceful drain, 1012), and a restart of the
tickets service. Prints the audit table (see tests/integration/harness/chaos.py) and exits 1
when anything is missing, duplicated or out of order. Every server it stops is started
again, whatever happens (SIGINT / SIGTERM included).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \
    REDIS_URL=redis://127.0.0.1:6379/0 AMQP_URL=amqp://guest:guest@127.0.0.1:5672/ \
    .venv/bin/python bench/chaos.py [--users 200] [--between 15] [--faults "redis restart,..."]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import signal
import sys
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from harness.chaos import FAULTS, Plan, chaos_stack, run_chaos  # noqa: E402
from harness.infra import provide_infra  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "chaos.json"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--workers", type=int, default=4, help="lifecycles driven at once")
    parser.add_argument("--between", type=float, default=15.0, help="seconds after each fault")
    parser.add_argument("--settle", type=float, default=90.0, help="most seconds to wait at end")
    parser.add_argument(
        "--faults", default=",".join(FAULTS), help=f"in order, from: {', '.join(FAULTS)}"
    )
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args()


def _raise_on_signal(signum: int, _frame: object) -> None:
    # Unwinds through every finally: the servers a fault stopped are started again.
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main() -> int:
    args = parse_args()
    schedule = [name.strip() for name in args.faults.split(",") if name.strip()]
    unknown = [name for name in schedule if name not in FAULTS]
    if unknown:
        print(f"unknown faults: {unknown}; choose from {list(FAULTS)}", file=sys.stderr)
        return 2
    plan = Plan(
        users=args.users,
        workers=args.workers,
        between=args.between,
        settle=args.settle,
        schedule=schedule,
        seed=args.seed,
    )
    signal.signal(signal.SIGTERM, _raise_on_signal)
    began = time.monotonic()

    def say(line: str) -> None:
        print(f"[{time.monotonic() - began:6.1f} s] {line}", flush=True)

    with (
        provide_infra() as infra,
        chaos_stack(infra, f"chaos{secrets.token_hex(3)}") as stack,
    ):
        say(f"stack ready at {stack.base_url} (namespace {stack.namespace})")
        report = asyncio.run(run_chaos(stack, plan, say))
    print()
    print(report.table())
    for line in report.details:
        print(f"  ! {line}")
    print(f"\n{'PASS' if report.ok else 'FAIL'} in {time.monotonic() - began:.0f} s")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps({"plan": asdict(plan), "report": asdict(report), "ok": report.ok}, indent=2)
        + "\n"
    )
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())

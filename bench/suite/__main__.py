"""`make bench` (``python -m bench.suite``): issue 8's benchmark suite, one command.

1. end to end: lifecycles at stepped rates through nginx, notifications checked per API.md;
2. where the time goes: each stage's histogram from the services' /metrics, per step;
3. gateway fan-out next to a bare ``websockets`` server, at 1,000 and 10,000 connections;
4. idle cost: RSS per idle authenticated connection (bench/gateway_idle_memory.py).

Starts its own `make stack` (scripts/stack.py on free ports, a namespace and databases of its
own) unless ``--base`` names a running one. Writes bench/results/suite_*.json and
docs/benchmarks/README.md with PNG plots. Shorter runs:

    python -m bench.suite --rates 5,10,20,30 --step-seconds 10 --fanout 1000 --idle 1000
    python -m bench.suite --report-only          # the report again from the stored JSON
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop
from bench.suite import e2e, fanout, report
from bench.suite.common import RESULTS, ROOT, load_average, reference_loop_ms
from bench.suite.stack import Target, started_stack


def numbers(text: str) -> list[float]:
    return [float(item) for item in text.split(",") if item]


def write(name: str, figures: dict[str, Any]) -> Path:
    path = RESULTS / f"suite_{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": f"suite_{name}",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_at_end": load_average(),
        "reference_loop_ms": reference_loop_ms(),
        **figures,
    }
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {path.relative_to(ROOT)}", flush=True)
    return path


def end_to_end(args: argparse.Namespace) -> None:
    def drive(target: Target) -> dict[str, Any]:
        return uvloop.run(
            e2e.run(
                target,
                numbers(args.rates),
                args.step_seconds,
                args.drain,
                args.clients,
                args.developers,
                args.admins,
            )
        )

    print("1-2. end to end, stepped rates", flush=True)
    if args.base:
        target = Target(args.base.rstrip("/"), args.admin_username, args.admin_password)
        if args.ready_file:
            info = json.loads(Path(args.ready_file).read_text())
            target = Target.from_ready(info, args.admin_password)
            target.base_url = args.base.rstrip("/")
        figures = drive(target)
        figures["stack"] = "given by --base"
    else:
        with started_stack(Path(tempfile.gettempdir()) / "bench-suite-stack.log") as target:
            figures = drive(target)
        figures["stack"] = "scripts/stack.py (nginx, tickets, notifier api + consumer, 2 gateways)"
    figures["command_arguments"] = sys.argv[1:]
    write("e2e", figures)


def fan_out(args: argparse.Namespace) -> None:
    print("3. gateway fan-out", flush=True)
    counts = [int(n) for n in numbers(args.fanout)]
    figures = uvloop.run(fanout.run(counts, args.fanout_seconds, args.fanout_repeats))
    write("fanout", figures)


def idle(args: argparse.Namespace) -> None:
    print("4. idle cost", flush=True)
    for count in [int(n) for n in numbers(args.idle)]:
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "bench" / "gateway_idle_memory.py"),
                "--connections",
                str(count),
            ],
            check=True,
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.suite",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--base", help="a running stack's public URL instead of starting one")
    parser.add_argument("--ready-file", help="with --base: that stack's --ready-file (metrics)")
    parser.add_argument("--admin-username", default="admin")
    parser.add_argument("--admin-password", default=os.environ.get("BOOTSTRAP_ADMIN_PASSWORD"))
    parser.add_argument("--rates", default="5,10,20,30,40,60,80", help="lifecycles/s per step")
    parser.add_argument("--step-seconds", type=float, default=20.0)
    parser.add_argument(
        "--drain", type=float, default=15.0, help="longest wait for a step's last notifications"
    )
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--developers", type=int, default=20)
    parser.add_argument("--admins", type=int, default=5)
    parser.add_argument("--fanout", default="1000,10000", help="connection counts of part 3")
    parser.add_argument("--fanout-seconds", type=float, default=10.0)
    parser.add_argument(
        "--fanout-repeats", type=int, default=3, help="measurements of each, the median kept"
    )
    parser.add_argument("--idle", default="1000,10000", help="connection counts of part 4")
    parser.add_argument("--skip", default="", help="parts to skip: e2e,fanout,idle")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    skip = set(args.skip.split(","))
    if not args.report_only:
        if "e2e" not in skip:
            end_to_end(args)
        if "fanout" not in skip:
            fan_out(args)
        if "idle" not in skip:
            idle(args)
    print(f"report: {report.write_report().relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

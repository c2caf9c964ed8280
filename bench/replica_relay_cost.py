"""What a second tickets replica's relay costs while the first serves the load (a command).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \
    AMQP_URL=amqp://guest:guest@127.0.0.1:5672/ REDIS_URL=redis://127.0.0.1:6379/0 \
    .venv/bin/python bench/replica_relay_cost.py [--rate 15] [--lifecycles 300] [--rounds 2]

Two tickets API processes on one new database, each with its embedded relay; the first one
receives `bench/tickets_latency.py --base` (open loop), the second no request at all. Every
commit NOTIFYs both relays. With the relay lease (``TICKETS_RELAY_LEASE``, the default) the
second stands by; without it, it competes for the rows. Reported per round, lease on and off
alternating: the CPU seconds of each process and of PostgreSQL over the run (the suite's
``ProcessSampler``: backends started or ended meanwhile count), and how many events each
process published. Written to bench/results/replica_relay_cost.json.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
sys.path.insert(0, str(ROOT))

from bench.suite.common import ProcessSampler, processes_named, write_result  # noqa: E402
from harness.infra import Infra  # noqa: E402
from harness.tickets import (  # noqa: E402
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    published_total,
    start_replica,
    start_tickets,
)


def one_round(infra: Infra, lease: bool, rate: float, lifecycles: int) -> dict[str, Any]:
    env = {
        "TICKETS_RELAY_LEASE": "true" if lease else "false",
        "TICKETS_ACCESS_TOKEN_TTL_SECONDS": "3600",
    }
    serving = start_tickets(infra, **env)
    try:
        idle = start_replica(serving, infra, **env)
        time.sleep(2.0)  # both relays connected, the lease settled
        sampler = ProcessSampler(
            lambda: {
                "serving": [psutil.Process(serving.process.pid)],
                "idle replica": [psutil.Process(idle.process.pid)],
                "postgresql": processes_named("postgres"),
            }
        )
        published_before = {
            "serving": published_total(serving.url),
            "idle replica": published_total(idle.url),
        }
        sampler.start()
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "bench" / "tickets_latency.py"),
                *("--rate", str(rate), "--lifecycles", str(lifecycles)),
                *("--base", serving.url, "--database-url", serving.database_url),
                *("--admin-username", ADMIN_USERNAME, "--admin-password", ADMIN_PASSWORD),
                *("--output", os.devnull),
            ],
            check=True,
            capture_output=True,
        )
        time.sleep(1.0)  # the last events published
        cpu = {name: group["cpu_seconds"] for name, group in sampler.stop().items()}
        return {
            "lease": lease,
            "cpu_seconds": cpu,
            "cpu_seconds_total": round(sum(cpu.values()), 2),
            "events_published": {
                "serving": published_total(serving.url) - published_before["serving"],
                "idle replica": published_total(idle.url) - published_before["idle replica"],
            },
        }
    finally:
        serving.stop()
        infra.drop_databases()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=15.0, help="lifecycles per second")
    parser.add_argument("--lifecycles", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2, help="pairs of runs, lease on and off")
    args = parser.parse_args()
    infra = Infra(
        os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"),
    )
    runs = []
    for _ in range(args.rounds):
        for lease in (True, False):
            run = one_round(infra, lease, args.rate, args.lifecycles)
            runs.append(run)
            print(
                f"lease {'on ' if lease else 'off'}: CPU s {run['cpu_seconds']}"
                f" (total {run['cpu_seconds_total']}), published {run['events_published']}",
                flush=True,
            )
    result = {
        "benchmark": "replica_relay_cost",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "rate_per_second": args.rate,
        "lifecycles": args.lifecycles,
        "runs": runs,
    }
    write_result("replica_relay_cost", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

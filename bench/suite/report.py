"""The Markdown report and PNG plots of the suite (docs/benchmarks/), from bench/results/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from bench.suite.common import DOCS, RESULTS

TARGETS = (
    "Targets of issue 8 on this 2-core machine: sustainable rate >= 30 lifecycles/s (0 missing,"
    " 0 duplicated, p99 < 1 s); at 10/s end-to-end p50 <= 20 ms and p99 <= 60 ms; gateway"
    " fan-out >= 60% of the bare `websockets` ceiling; <= 15 KiB per idle connection at 10,000."
)


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else None


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


def _e2e_section(e2e: dict[str, Any], lines: list[str]) -> None:
    steps = e2e["steps"]
    users = e2e["users"]
    lines += [
        "## 1. End to end",
        "",
        f"{users['clients']} clients, {users['developers']} developers and {users['admins']}"
        f" admins (the bootstrap admin among them) provisioned through the API;"
        f" {e2e['connections']} WebSockets through nginx (a second device for every tenth"
        f" user). Each step starts lifecycles open loop for {e2e['step_seconds']:g} s (create,"
        " open, assign two developers, start, finish, approve; every fifth rejected once"
        " first), then waits for them and their notifications. Delay: from sending the"
        " triggering request to receiving the frame, per delivered frame (each device).",
        "",
        "Missing: expected frames not received by the end of the step's drain (`--drain`,"
        " 15 s by default): past saturation these are late, not necessarily lost (the"
        " integration and chaos tests check loss). Unexpected: frames for a request whose"
        " answer the load generator did not get (a"
        " timed-out lifecycle whose change the server committed): not counted as expected.",
        "",
        f"**Sustainable rate: {_cell(e2e['sustainable_rate_per_second'])} lifecycles/s** (the"
        " highest step with nothing missing or duplicated, no failed lifecycle and delay p99"
        " under 1 s).",
        "",
        "| rate/s | lifecycles done/started | HTTP p50 / p99 ms | notifications expected"
        " / received | missing | dup | unexpected | delay p50 / p95 / p99 / max ms | load avg"
        " (1 min, after) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in steps:
        lines.append(
            f"| {s['rate_per_second']:g} | {s['lifecycles_completed']}/{s['lifecycles_started']}"
            f" | {_cell(s['http_p50_ms'])} / {_cell(s['http_p99_ms'])}"
            f" | {s['notifications_expected']} / {s['notifications_received']}"
            f" | {s['missing']} | {s['duplicated']} | {s['unexpected']}"
            f" | {_cell(s['delay_p50_ms'])} / {_cell(s['delay_p95_ms'])} /"
            f" {_cell(s['delay_p99_ms'])} / {_cell(s['delay_max_ms'])}"
            f" | {s['load_average_after'][0]} |"
        )
    if e2e.get("skipped_rates"):
        rates = ", ".join(f"{rate:g}" for rate in e2e["skipped_rates"])
        lines += [
            "",
            f"Not run: {rates}/s (a step past saturation, with a delay p99 over 10 s or failed"
            " lifecycles, stops the stepping: a faster step would only queue).",
        ]
    failed = {s["rate_per_second"]: s["errors"] for s in steps if s["lifecycles_failed"]}
    if failed:
        lines += ["", f"Failed lifecycles' errors per step: `{json.dumps(failed)}`"]
    names = list(steps[0]["processes"]) if steps else []
    lines += [
        "",
        "CPU (% of one core over the step) and peak RSS (MiB) of every process; PostgreSQL,"
        " RabbitMQ and Redis are the machine's shared servers (other work on the machine shows"
        " in them). PostgreSQL's RSS sums the backends alive at the step's start (shared buffers"
        " counted more than once); its CPU counts every backend, those started or ended during"
        " the step included.",
        "",
        "| rate/s | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for s in steps:
        cells = [
            f"{s['processes'][n]['cpu_percent']}% / {s['processes'][n]['peak_rss_mib']}"
            for n in names
        ]
        lines.append(f"| {s['rate_per_second']:g} | " + " | ".join(cells) + " |")
    lines += _cost_lines(steps, int(e2e.get("cpus") or 2))
    lines += [
        "",
        "![delay percentiles per step](e2e_delay.png)",
        "",
        "![CPU per process per step](e2e_cpu.png)",
        "",
        "## 2. Where the time goes",
        "",
        "Each stage's histogram from the services' own /metrics, scraped before and after each"
        " step (the difference is that step's); p50/p99 interpolated within the buckets. The"
        " notifier's histogram starts at the event's `occurred_at` (the tickets commit), so it"
        " holds the relay and broker stages too: confirm -> records committed is its mean minus"
        " the commit -> confirm mean.",
        "",
        "| rate/s | stage | count | mean ms | p50 ms | p99 ms |",
        "|---|---|---|---|---|---|",
    ]
    for s in steps:
        for stage in s["stages"]:
            lines.append(
                f"| {s['rate_per_second']:g} | {stage['stage']} | {stage['count']}"
                f" | {_cell(stage['mean_ms'])} | {_cell(stage['p50_ms'])}"
                f" | {_cell(stage['p99_ms'])} |"
            )
    lines += ["", "![stage means per step](e2e_stages.png)", ""]
    _plot_e2e(steps)


def _cost_lines(steps: list[dict[str, Any]], cpus: int) -> list[str]:
    """What a lifecycle costs the machine, and how busy the machine was, per step."""
    if not any(s.get("cpu_ms_per_lifecycle") for s in steps):
        return []  # results recorded before the figure existed
    lines = [
        "",
        "What a lifecycle costs: the CPU time of all of the processes above over the step, per"
        " completed lifecycle. It holds the stack's idle work too (heartbeats, sweeps, the"
        " drain's wait), which weighs most at low rates; at high rates it nears the cost of"
        f" the work itself. Busy: their CPU as a share of the {cpus} cores.",
        "",
        "| rate/s | CPU ms per lifecycle | busy |",
        "|---|---|---|",
    ]
    for s in steps:
        busy = sum(p["cpu_percent"] for p in s["processes"].values()) / cpus
        lines.append(
            f"| {s['rate_per_second']:g} | {_cell(s.get('cpu_ms_per_lifecycle'))} | {busy:.0f}% |"
        )
    return lines


def _plot_e2e(steps: list[dict[str, Any]]) -> None:
    rates = [s["rate_per_second"] for s in steps]
    figure, axis = plt.subplots(figsize=(7, 4))
    for key in ("delay_p50_ms", "delay_p95_ms", "delay_p99_ms", "delay_max_ms"):
        axis.plot(rates, [s[key] or 0 for s in steps], marker="o", label=key[6:-3])
    axis.axhline(1000, color="grey", linestyle="--", linewidth=0.8, label="1 s")
    axis.set(xlabel="lifecycles per second", ylabel="request -> frame (ms)", yscale="log")
    axis.legend()
    axis.set_title("End-to-end delay")
    figure.tight_layout()
    figure.savefig(DOCS / "e2e_delay.png", dpi=100)
    plt.close(figure)

    figure, axis = plt.subplots(figsize=(8, 4))
    names = list(steps[0]["processes"])
    bottom = [0.0] * len(steps)
    for name in names:
        values = [s["processes"][name]["cpu_percent"] for s in steps]
        axis.bar([str(r) for r in rates], values, bottom=bottom, label=name)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    axis.set(xlabel="lifecycles per second", ylabel="CPU (% of one core)")
    axis.axhline(200, color="grey", linestyle="--", linewidth=0.8)
    axis.legend(fontsize=7, ncol=2)
    axis.set_title("CPU per process (2 cores = 200%)")
    figure.tight_layout()
    figure.savefig(DOCS / "e2e_cpu.png", dpi=100)
    plt.close(figure)

    figure, axis = plt.subplots(figsize=(7, 4))
    for index, stage in enumerate(steps[0]["stages"]):
        values = [s["stages"][index]["mean_ms"] or 0 for s in steps]
        axis.plot(rates, values, marker="o", label=stage["stage"])
    axis.set(xlabel="lifecycles per second", ylabel="mean (ms)", yscale="log")
    axis.legend(fontsize=7)
    axis.set_title("Stage means from the services' histograms")
    figure.tight_layout()
    figure.savefig(DOCS / "e2e_stages.png", dpi=100)
    plt.close(figure)


def _fanout_section(fan: dict[str, Any], lines: list[str]) -> None:
    lines += [
        "## 3. Gateway fan-out",
        "",
        f"One gateway process; deliveries routed to its Redis stream as the notifier does"
        f" (a window of {fan.get('window', 20_000):,} entries in flight, written by a Redis"
        " script),"
        f" {fan['frame_bytes']}-byte notification frames,"
        f" {fan['seconds']:g} s measured after a 1 s warm-up (measured {fan['measured_at']}"
        f"{_speed(fan)}), gateway and bare server in turn"
        f" {fan.get('repeats', 1)} times; the median of each is shown (all of them are in the"
        " JSON). Ceiling: a bare `websockets`"
        " server (own process, uvloop) pushing one pre-encoded frame in a loop to each client,"
        " measured right after with the same clients; neither compresses (no per-message"
        " deflate). The clients are this process (one core at most; picows clients, whose frame"
        " parsing is compiled), in both; in the gateway's"
        " run the same two cores also carry Redis and the routing (the XADDs, sent by this"
        " process), which the bare server's run does not have. CPU per frame: the server"
        " process's CPU time divided by the frames delivered. The bare server makes one write"
        " (a system call) per frame; the gateway, with a backlog, writes the frames of several"
        " batches at once (`GATEWAY_BACKLOG_WRITE_ENTRIES`), so it can pass the ceiling where a"
        " write carries several frames per connection.",
        "",
        "| connections | gateway frames/s | bare frames/s | share | gateway CPU | bare CPU"
        " | server CPU per frame (gw / bare) | client CPU (gw / bare) | load avg |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in fan["runs"]:
        g, b = run["gateway"], run["bare_websockets"]
        lines.append(
            f"| {run['connections']} | {g['frames_per_second']} | {b['frames_per_second']}"
            f" | {run['gateway_share_of_bare']:.0%} | {g['server_cpu_percent']}%"
            f" | {b['server_cpu_percent']}% | {_us_per_frame(g)} / {_us_per_frame(b)} µs"
            f" | {g['client_cpu_percent']}% /"
            f" {b['client_cpu_percent']}% | {g['load_average'][0]} / {b['load_average'][0]} |"
        )
    lines += ["", "![fan-out](fanout.png)", ""]
    figure, axis = plt.subplots(figsize=(6, 4))
    labels = [str(run["connections"]) for run in fan["runs"]]
    positions = range(len(labels))
    axis.bar(
        [p - 0.2 for p in positions],
        [r["gateway"]["frames_per_second"] for r in fan["runs"]],
        0.4,
        label="ws-gateway",
    )
    axis.bar(
        [p + 0.2 for p in positions],
        [r["bare_websockets"]["frames_per_second"] for r in fan["runs"]],
        0.4,
        label="bare websockets",
    )
    axis.set_xticks(list(positions), labels)
    axis.set(xlabel="connections", ylabel="frames per second")
    axis.legend()
    axis.set_title("Fan-out, same run")
    figure.tight_layout()
    figure.savefig(DOCS / "fanout.png", dpi=100)
    plt.close(figure)


def _idle_section(idle: list[dict[str, Any]], lines: list[str]) -> None:
    lines += [
        "## 4. Idle cost",
        "",
        "`bench/gateway_idle_memory.py`: one gateway, N authenticated connections of N users,"
        " each answering a ping, then idle; RSS growth divided by N.",
        "",
        "| connections | RSS before MiB | RSS with connections MiB | KiB per connection"
        " | measured at |",
        "|---|---|---|---|---|",
    ]
    for item in idle:
        lines.append(
            f"| {item['connections']} | {item['rss_before_kib'] / 1024:.1f}"
            f" | {item['rss_with_connections_kib'] / 1024:.1f}"
            f" | {item['rss_per_idle_connection_kib']} | {item['measured_at']} |"
        )
    lines.append("")


def write_report() -> Path:
    DOCS.mkdir(parents=True, exist_ok=True)
    e2e = _load("suite_e2e.json")
    fan = _load("suite_fanout.json")
    idle = [
        item
        for item in (_load(f"gateway_idle_memory_{n}.json") for n in (1000, 10000))
        if item is not None
    ]
    lines = [
        "# Benchmarks",
        "",
        "Made by `make bench` (`python -m bench.suite`; its `--help` lists the shortening"
        " flags). The machine has 2 cores shared by everything (the services, PostgreSQL,"
        " RabbitMQ, Redis, nginx and the load generator); the load average is recorded with"
        " every figure, since any other work on the two cores slows them.",
        "",
        TARGETS,
        "",
        "What these runs show, and the optimizations kept with their before/after figures:"
        " [optimizations.md](optimizations.md).",
        "",
    ]
    if e2e:
        arguments = " ".join(e2e["command_arguments"]) or "(defaults)"
        lines += [
            f"End to end measured {e2e['measured_at']} with arguments `{arguments}`"
            f" (Python {e2e['python']}){_speed(e2e)}.",
            "",
        ]
        _e2e_section(e2e, lines)
    if fan:
        _fanout_section(fan, lines)
    if idle:
        _idle_section(idle, lines)
    path = DOCS / "README.md"
    path.write_text("\n".join(lines).rstrip() + "\n")
    return path


def _us_per_frame(side: dict[str, Any]) -> str:
    frames = side["frames_per_second"]
    if not frames:
        return "-"
    return f"{side['server_cpu_percent'] / 100 / frames * 1e6:.1f}"


def _speed(result: dict[str, Any]) -> str:
    """The machine's pure-Python speed when the result was written (older results lack it)."""
    if "reference_loop_ms" not in result:
        return ""
    return (
        f"; machine speed: {result['reference_loop_ms']} ms for the reference loop"
        " (`bench.suite.common.reference_loop_ms`, lower is faster)"
    )

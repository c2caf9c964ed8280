"""What every part of the suite shares: percentiles, Prometheus histograms, process sampling."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
DOCS = ROOT / "docs" / "benchmarks"


def write_result(name: str, result: dict[str, Any]) -> Path:
    """``bench/results/<name>.json``, said on the console; returns its path."""
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{name}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out.relative_to(ROOT)}")
    return out


def percentile(values: list[float], q: float) -> float | None:
    """The nearest-rank percentile ``q`` (0-100) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(q / 100 * len(ordered) + 0.999999) - 1))
    return ordered[index]


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def reference_loop_ms() -> float:
    """The machine's speed for pure Python: the best of three runs of a fixed loop, in ms.

    Two runs of the suite on machines that are both "2 cores" can differ by a factor of two
    or more; this figure, recorded with every result, tells which run was on a faster one.
    """
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        total = 0
        for number in range(3_000_000):
            total += number
        best = min(best, time.perf_counter() - began)
    return round(best * 1000, 1)


# --- Prometheus text -----------------------------------------------------------------------
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


def parse_metrics(text: str) -> dict[str, float]:
    """``name{labels}`` -> value, for every sample of a Prometheus exposition."""
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match:
            samples[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return samples


@dataclass
class Histogram:
    """One histogram's cumulative buckets, count and sum (a difference of two scrapes)."""

    buckets: list[tuple[float, float]] = field(default_factory=list)
    count: float = 0.0
    total: float = 0.0

    @classmethod
    def from_samples(cls, samples: dict[str, float], name: str) -> Histogram:
        """Sums over every label set (e.g. all gateways' scrapes merged beforehand)."""
        per_bound: dict[float, float] = {}
        count = total = 0.0
        for key, value in samples.items():
            if key.startswith(name + "_bucket"):
                bound = re.search(r'le="([^"]+)"', key)
                if bound:
                    le = float(bound.group(1))
                    per_bound[le] = per_bound.get(le, 0.0) + value
            elif key == name + "_count" or key.startswith(name + "_count{"):
                count += value
            elif key == name + "_sum" or key.startswith(name + "_sum{"):
                total += value
        return cls(sorted(per_bound.items()), count, total)

    def minus(self, earlier: Histogram) -> Histogram:
        before = dict(earlier.buckets)
        return Histogram(
            [(le, value - before.get(le, 0.0)) for le, value in self.buckets],
            self.count - earlier.count,
            self.total - earlier.total,
        )

    def quantile(self, q: float) -> float | None:
        """Linear interpolation within the bucket holding quantile ``q`` (0-1)."""
        if self.count <= 0 or not self.buckets:
            return None
        rank = q * self.count
        lower_bound, lower_count = 0.0, 0.0
        for le, cumulative in self.buckets:
            if cumulative >= rank:
                if le == float("inf"):
                    return lower_bound
                share = (rank - lower_count) / max(cumulative - lower_count, 1e-9)
                return lower_bound + (le - lower_bound) * share
            lower_bound, lower_count = le, cumulative
        return lower_bound

    def summary(self) -> dict[str, Any]:
        return {
            "count": int(self.count),
            "mean_ms": ms(self.total / self.count) if self.count else None,
            "p50_ms": ms(self.quantile(0.50)),
            "p99_ms": ms(self.quantile(0.99)),
        }


# --- processes -----------------------------------------------------------------------------
def processes_named(*names: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["name"]):
        if process.info["name"] in names:
            found.append(process)
    return found


def with_children(pid: int) -> list[psutil.Process]:
    try:
        parent = psutil.Process(pid)
        return [parent, *parent.children(recursive=True)]
    except psutil.Error:
        return []


class ResidentSizes:
    """The summed RSS of some processes, read at every sample in the load generator's own
    process (whose CPU the suite reports): each one's /proc statm stays open and is re-read
    in place, a fifth of psutil's open, read and parse each time (psutil where /proc cannot
    be opened)."""

    _PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

    def __init__(self, processes: Iterable[psutil.Process]) -> None:
        self._files: list[int] = []
        self._others: list[psutil.Process] = []
        for process in processes:
            try:
                self._files.append(os.open(f"/proc/{process.pid}/statm", os.O_RDONLY))
            except OSError:
                self._others.append(process)

    def total(self) -> float:
        pages = 0
        for fd in self._files:
            try:  # "size resident shared ..." in pages; an exited process reads as an error
                pages += int(os.pread(fd, 128, 0).split()[1])
            except (OSError, IndexError, ValueError):
                continue
        total = float(pages * self._PAGE)
        for process in self._others:
            try:
                total += process.memory_info().rss
            except psutil.Error:
                continue
        return total

    def close(self) -> None:
        for fd in self._files:
            os.close(fd)
        self._files = []


@dataclass(frozen=True)
class _CpuReading:
    own: float  # user + system seconds of the process itself
    reaped: float  # those of its children that ended and that it waited for
    parent: int


class ProcessSampler:
    """CPU time and peak RSS of named groups of processes, sampled in a thread.

    ``discover`` lists each group's processes; it runs at the start and again at the stop, so
    that a process born during the step (a PostgreSQL backend for a new connection) counts,
    and so does one that ended: its parent, when in the group, has reaped it and holds its
    CPU time among its children's. A group's RSS is the sum over the processes found at the
    start (PostgreSQL's shared buffers are counted once per backend that touched them: an
    upper bound). The servers are the machine's own, shared with anything else that uses
    them meanwhile.
    """

    def __init__(
        self, discover: Callable[[], dict[str, list[psutil.Process]]], interval: float = 0.25
    ) -> None:
        self._discover = discover
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._start: dict[str, dict[int, _CpuReading]] = {}  # group -> pid -> reading
        self._peak: dict[str, float] = {}
        self._sizes: dict[str, ResidentSizes] = {}
        self._started = 0.0

    @staticmethod
    def _readings(processes: Iterable[psutil.Process]) -> dict[int, _CpuReading]:
        readings: dict[int, _CpuReading] = {}
        for process in processes:
            try:
                with process.oneshot():
                    times = process.cpu_times()
                    readings[process.pid] = _CpuReading(
                        own=times.user + times.system,
                        reaped=times.children_user + times.children_system,
                        parent=process.ppid(),
                    )
            except psutil.Error:
                continue
        return readings

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            for name, sizes in self._sizes.items():
                self._peak[name] = max(self._peak.get(name, 0.0), sizes.total())

    def start(self) -> None:
        self._started = time.monotonic()
        groups = self._discover()
        self._start = {name: self._readings(processes) for name, processes in groups.items()}
        self._sizes = {name: ResidentSizes(p) for name, p in groups.items()}
        self._peak = {name: sizes.total() for name, sizes in self._sizes.items()}
        self._thread.start()

    @staticmethod
    def _used(before: dict[int, _CpuReading], after: dict[int, _CpuReading]) -> float:
        """CPU seconds used between the two readings of one group."""
        used = 0.0
        for pid, now in after.items():
            then = before.get(pid)
            if then is None:  # born during the step
                used += now.own + now.reaped
            else:
                used += max(0.0, now.own - then.own) + max(0.0, now.reaped - then.reaped)
        for pid, then in before.items():
            if pid not in after and then.parent in after:
                # Ended during the step, and its parent's reaped time now holds all of its
                # time: take off what it had used before the step.
                used -= then.own + then.reaped
        return max(0.0, used)

    def stop(self) -> dict[str, dict[str, float]]:
        self._stop.set()
        self._thread.join()
        for sizes in self._sizes.values():
            sizes.close()
        elapsed = max(time.monotonic() - self._started, 1e-6)
        groups = self._discover()
        used = {
            name: self._used(before, self._readings(groups.get(name, [])))
            for name, before in self._start.items()
        }
        return {
            name: {
                "cpu_percent": round(used[name] / elapsed * 100, 1),
                "cpu_seconds": round(used[name], 3),
                "peak_rss_mib": round(self._peak[name] / 2**20, 1),
            }
            for name in self._start
        }

"""Prometheus metrics of one service instance, in a registry of its own (no global state)."""

from __future__ import annotations

import time
from contextvars import ContextVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# Millisecond-scale buckets: the relay is woken at commit, so most delays are well under 50 ms
# (fine enough for the benchmark to estimate percentiles from them).
_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05,
    0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip

request_started: ContextVar[float | None] = ContextVar("request_started", default=None)
"""``time.perf_counter()`` when the current HTTP request arrived (set by the API middleware)."""


class TicketsMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.http_requests = Histogram(
            "tickets_http_request_duration_seconds",
            "HTTP request duration, by route template and status code.",
            ["method", "route", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.request_to_commit = Histogram(
            "tickets_request_to_commit_seconds",
            "From the arrival of a request to the commit of its change and events.",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.commit_to_confirm = Histogram(
            "tickets_outbox_commit_to_confirm_seconds",
            "From an event's outbox write (in the committing transaction) to the broker confirm.",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.events_published = Counter(
            "tickets_outbox_published_total",
            "Events confirmed by the broker, by routing key.",
            ["event_type"],
            registry=self.registry,
        )
        self.outbox_pruned_rows = Counter(
            "tickets_outbox_pruned_rows_total",
            "Sent outbox rows deleted by the retention (TICKETS_OUTBOX_RETENTION_HOURS).",
            registry=self.registry,
        )
        self.relay_connected = Gauge(
            "tickets_outbox_relay_connected",
            "1 while the relay holds a broker connection.",
            registry=self.registry,
        )
        self.relay_lease_held = Gauge(
            "tickets_outbox_relay_lease",
            "1 while this process's relay holds the lease: the one replica that publishes.",
            registry=self.registry,
        )

    def committed(self, event_ids: list[str]) -> None:
        started = request_started.get()
        if started is not None:
            self.request_to_commit.observe(time.perf_counter() - started)

    def confirmed(self, event_type: str, commit_to_confirm_seconds: float) -> None:
        self.commit_to_confirm.observe(commit_to_confirm_seconds)
        self.events_published.labels(event_type).inc()

    def outbox_pruned(self, rows: int) -> None:
        self.outbox_pruned_rows.inc(rows)

    def relay_connection(self, *, connected: bool) -> None:
        self.relay_connected.set(1 if connected else 0)

    def relay_lease(self, *, held: bool) -> None:
        self.relay_lease_held.set(1 if held else 0)

    def render(self) -> bytes:
        return generate_latest(self.registry)

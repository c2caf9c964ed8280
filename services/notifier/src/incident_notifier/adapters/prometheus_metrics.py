"""The notifier's Prometheus metrics, in a registry of their own per process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

_DELAY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class NotifierMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events_consumed = Counter(
            "notifier_events_consumed",
            "Events taken from the queue, by type and how they were settled.",
            ["event_type", "outcome"],
            registry=self.registry,
        )
        self.records_written = Counter(
            "notifier_records_written",
            "Notification records committed.",
            registry=self.registry,
        )
        self.dead_lettered = Counter(
            "notifier_dead_lettered",
            "Messages sent to the dead-letter queue, by reason kind.",
            ["reason"],
            registry=self.registry,
        )
        self.routed = Counter(
            "notifier_routed_deliveries",
            "Stream entries written for gateway instances.",
            registry=self.registry,
        )
        self.processed_events_pruned = Counter(
            "notifier_processed_events_pruned",
            "Idempotency claims deleted by the retention "
            "(NOTIFIER_PROCESSED_EVENTS_RETENTION_HOURS).",
            registry=self.registry,
        )
        self.commit_delay = Histogram(
            "notifier_commit_delay_seconds",
            "From an event's occurred_at to the commit of its records.",
            buckets=_DELAY_BUCKETS,
            registry=self.registry,
        )

    def claims_pruned(self, rows: int) -> None:
        self.processed_events_pruned.inc(rows)

    def render(self) -> bytes:
        return generate_latest(self.registry)

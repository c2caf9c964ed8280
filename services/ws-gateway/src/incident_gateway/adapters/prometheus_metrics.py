"""The gateway's Prometheus metrics, in a registry of their own (no global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class PrometheusMetrics:
    def __init__(self, instance_id: str) -> None:
        self.registry = CollectorRegistry()
        self._open = Gauge(
            "gateway_open_connections", "Open WebSocket connections.", registry=self.registry
        )
        self._rejected = Counter(
            "gateway_rejected_handshakes",
            "Handshakes refused, by error code.",
            ["code"],
            registry=self.registry,
        )
        self._routed = Counter(
            "gateway_routed_entries",
            "Entries read from this instance's delivery stream.",
            registry=self.registry,
        )
        self._unroutable = Counter(
            "gateway_unroutable_entries",
            "Routed entries for a user with no connection here any more.",
            registry=self.registry,
        )
        self._delivered = Counter(
            "gateway_messages_delivered",
            "Notifications written to a connection (one per connection).",
            registry=self.registry,
        )
        self._latency = Histogram(
            "gateway_delivery_latency_seconds",
            "From the notifier's routing of a notification to its write to the client.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._slow = Counter(
            "gateway_slow_client_disconnects",
            "Connections closed because the client did not read fast enough.",
            registry=self.registry,
        )
        self._replays = Counter(
            "gateway_replay_fetches",
            "Reads of stored records: reason 'since' (a resume) or 'gap' (a missed route).",
            ["reason"],
            registry=self.registry,
        )
        info = Gauge(
            "gateway_instance", "This instance's id.", ["instance_id"], registry=self.registry
        )
        info.labels(instance_id=instance_id).set(1)

    def connection_opened(self) -> None:
        self._open.inc()

    def connection_closed(self) -> None:
        self._open.dec()

    def handshake_rejected(self, code: str) -> None:
        self._rejected.labels(code=code).inc()

    def routed(self, entries: int) -> None:
        self._routed.inc(entries)

    def unroutable(self) -> None:
        self._unroutable.inc()

    def delivered(self, latency_seconds: float | None) -> None:
        self._delivered.inc()
        if latency_seconds is not None:
            self._latency.observe(latency_seconds)

    def slow_client_disconnected(self) -> None:
        self._slow.inc()

    def replay_fetch(self, reason: str) -> None:
        self._replays.labels(reason=reason).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

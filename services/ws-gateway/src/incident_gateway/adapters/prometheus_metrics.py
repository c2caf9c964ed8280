"""The gateway's Prometheus metrics, in a registry of their own (no global state)."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_LE_LABELS = (*(repr(bound) for bound in LATENCY_BUCKETS), "+Inf")


class _Deliveries:
    """``gateway_messages_delivered`` and ``gateway_delivery_latency_seconds``, counted in
    plain integers.

    The gateway reports a whole batch of writes that share a latency at once; prometheus_client
    has no weighted observation, and its per-call locks cost ~13% of the delivery work when
    called once per frame. The event loop's thread is the only writer and the only reader
    (``/metrics`` is served by the same loop), so no lock is needed.
    """

    def __init__(self) -> None:
        self.delivered = 0
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # the last one is +Inf
        self.latency_sum = 0.0

    def add(self, count: int, latency_seconds: float | None) -> None:
        self.delivered += count
        if latency_seconds is not None:
            # Upper bounds are inclusive (le), as in prometheus_client's Histogram.
            self.buckets[bisect_left(LATENCY_BUCKETS, latency_seconds)] += count
            self.latency_sum += latency_seconds * count

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "gateway_messages_delivered",
            "Notifications written to a connection (one per connection).",
            value=self.delivered,
        )
        cumulative, buckets = 0, []
        for label, count in zip(_LE_LABELS, self.buckets, strict=True):
            cumulative += count
            buckets.append((label, cumulative))
        yield HistogramMetricFamily(
            "gateway_delivery_latency_seconds",
            "From the notifier's routing of a notification to its write to the client"
            " (read once per batch, after its last frame is handed to the connection).",
            buckets=buckets,
            sum_value=self.latency_sum,
        )

    def describe(self) -> Iterator[Metric]:
        return self.collect()


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
        self._deliveries = _Deliveries()
        self.registry.register(self._deliveries)
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

    def delivered(self, count: int, latency_seconds: float | None) -> None:
        self._deliveries.add(count, latency_seconds)

    def slow_client_disconnected(self) -> None:
        self._slow.inc()

    def replay_fetch(self, reason: str) -> None:
        self._replays.labels(reason=reason).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

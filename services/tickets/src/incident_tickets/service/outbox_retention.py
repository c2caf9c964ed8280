"""Outbox retention: sent rows are kept a while (to look into what went out), then deleted.

Run by the relay's process on a slow timer (``incident_runtime.RetentionTimer``: bounded
batches, the metric, the backoff). Only rows with ``sent_at`` older than the retention are
deleted; unsent rows are never touched, which ``SentOutboxPruner.prune_sent`` promises.
"""

from __future__ import annotations

from datetime import timedelta

from incident_runtime import RetentionTimer
from incident_tickets.service.ports import Clock, RetentionMetrics, SentOutboxPruner


def outbox_retention(
    store: SentOutboxPruner, metrics: RetentionMetrics, clock: Clock, *, retention: timedelta
) -> RetentionTimer:
    """The timer that prunes the rows sent more than ``retention`` ago."""
    return RetentionTimer(
        store.prune_sent,
        metrics.outbox_pruned,
        clock,
        name="outbox",
        rows="rows sent",
        retention=retention,
    )

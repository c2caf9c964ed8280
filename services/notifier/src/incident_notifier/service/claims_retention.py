"""Retention of the idempotency claims (``processed_events``): kept for a long period, far
beyond any redelivery, then deleted oldest first, on a slow timer in the consumer process
(``incident_runtime.RetentionTimer``: bounded batches, the metric, the backoff). The records
themselves (the users' inboxes) are never deleted here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from incident_notifier.service.ports import ClaimsPruner, RetentionMetrics
from incident_runtime import RetentionTimer


def claims_retention(
    store: ClaimsPruner,
    metrics: RetentionMetrics,
    clock: Callable[[], datetime],
    *,
    retention: timedelta,
) -> RetentionTimer:
    """The timer that prunes the claims made more than ``retention`` ago."""
    return RetentionTimer(
        store.prune_claims,
        metrics.claims_pruned,
        clock,
        name="claims",
        rows="processed events claimed",
        retention=retention,
    )

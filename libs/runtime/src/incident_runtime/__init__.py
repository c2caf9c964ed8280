"""Runtime pieces the services share, standard library only.

``RetentionTimer`` deletes a table's old rows on a slow timer: the tickets relay prunes its
sent outbox rows with it, the notifier's consumer its idempotency claims.
"""

from incident_runtime.retention import Clock, Prune, PrunedCount, RetentionTimer

__all__ = ["Clock", "Prune", "PrunedCount", "RetentionTimer"]

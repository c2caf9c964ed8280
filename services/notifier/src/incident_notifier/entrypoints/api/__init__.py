"""The notifier's HTTP API: the inbox (public), the replay endpoint (internal), health."""

from incident_notifier.entrypoints.api.app import create_app
from incident_notifier.entrypoints.api.deps import ApiServices, ReadinessCheck

__all__ = ["ApiServices", "ReadinessCheck", "create_app"]

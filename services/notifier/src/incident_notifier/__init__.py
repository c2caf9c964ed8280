"""The notifier: ticket events in, one notification record per recipient out.

Processes: ``python -m incident_notifier api`` (the inbox API and the gateways' replay
endpoint), ``python -m incident_notifier consumer`` (events -> records -> routing to
gateways) and ``python -m incident_notifier migrate``.
"""

"""Process roles: the HTTP API (``api``), the outbox relay (``relay``), migrations (``migrate``)."""

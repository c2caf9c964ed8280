"""The HTTP API of API.md (auth, users, projects, tickets), plus health, metrics and JWKS."""

from incident_tickets.entrypoints.api.app import create_app

__all__ = ["create_app"]

"""The tickets service: users, projects, tickets and their lifecycle, tokens, and the outbox.

Run it with ``python -m incident_tickets [api|relay|migrate]``.
"""

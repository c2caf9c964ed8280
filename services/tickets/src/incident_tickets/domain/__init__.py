"""The tickets domain: users, projects and the ticket lifecycle, as plain objects.

Standard library only. The role, status, priority and category enums come from
``incident_contracts.enums``, a standard-library-only module, so that the names on the wire and
in the rules can never drift apart.
"""

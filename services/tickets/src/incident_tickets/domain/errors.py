"""Everything the tickets service refuses, as one tree of errors.

Each leaf carries the API's machine ``code`` and a human ``detail``; the HTTP status is chosen
in one place, the API's exception handler::

    TicketsError
      NotAuthenticated        401 not_authenticated
      InvalidToken            401 invalid_token
        TokenExpired          401 token_expired
      InvalidCredentials      401 invalid_credentials
      TooManyAttempts         429 too_many_requests (carries Retry-After seconds)
      Forbidden               403 forbidden
      NotFound                404 not_found
        TicketNotFound
        UserNotFound
      InvalidTransition       409 invalid_transition (carries the current status)
      UsernameTaken           409 username_taken
      InvalidDeveloper        400 invalid_developer
      InvalidProject          400 invalid_project
      ValidationFailed        422 validation_error
      Unavailable             503 unavailable (the database cannot be reached; retryable)
"""

from __future__ import annotations

from typing import ClassVar

from incident_contracts.enums import TicketStatus


class TicketsError(Exception):
    code: ClassVar[str] = "error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotAuthenticated(TicketsError):
    code = "not_authenticated"


class InvalidToken(TicketsError):
    code = "invalid_token"


class TokenExpired(InvalidToken):
    code = "token_expired"


class InvalidCredentials(TicketsError):
    code = "invalid_credentials"


class TooManyAttempts(TicketsError):
    code = "too_many_requests"

    def __init__(self, retry_after: float) -> None:
        super().__init__("Too many failed login attempts; try again later.")
        self.retry_after = retry_after


class Forbidden(TicketsError):
    code = "forbidden"


class NotFound(TicketsError):
    code = "not_found"


class TicketNotFound(NotFound):
    def __init__(self, ticket_id: int) -> None:
        super().__init__(f"Ticket {ticket_id} was not found.")


class UserNotFound(NotFound):
    def __init__(self, user_id: int) -> None:
        super().__init__(f"User {user_id} was not found.")


class InvalidTransition(TicketsError):
    code = "invalid_transition"

    def __init__(self, action: str, status: TicketStatus) -> None:
        super().__init__(f"A ticket that is {status.display} cannot be {action}.")
        self.status = status


class UsernameTaken(TicketsError):
    code = "username_taken"

    def __init__(self, username: str) -> None:
        super().__init__(f"The username '{username}' is already taken.")


class InvalidDeveloper(TicketsError):
    code = "invalid_developer"


class InvalidProject(TicketsError):
    code = "invalid_project"


class ValidationFailed(TicketsError):
    code = "validation_error"


class Unavailable(TicketsError):
    """The database did not answer (down, restarting, or every pooled connection busy for
    the pool's whole wait); the same request may succeed when retried."""

    code = "unavailable"

    def __init__(self) -> None:
        super().__init__("The service's database is unavailable; please retry shortly.")

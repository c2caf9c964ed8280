"""The notifier's errors, one tree so the API maps them in one place::

NotifierError
  NotAuthenticated        401 not_authenticated / invalid_token / token_expired
    AccountInactive       401 invalid_token (the directory marks the user inactive)
  NotificationNotFound    404 not_found
  InvalidCursor           400 invalid_cursor
  StoreUnavailable        503 unavailable (the database cannot be reached; retryable)
"""

from __future__ import annotations


class NotifierError(Exception):
    """The root of every error the notifier raises on purpose."""

    code = "error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotAuthenticated(NotifierError):
    """No usable credentials; ``code`` says which of the API's 401 codes applies."""

    def __init__(self, detail: str, code: str = "not_authenticated") -> None:
        super().__init__(detail)
        self.code = code


class AccountInactive(NotAuthenticated):
    def __init__(self) -> None:
        super().__init__("This account is inactive.", code="invalid_token")


class NotificationNotFound(NotifierError):
    code = "not_found"

    def __init__(self) -> None:
        super().__init__("No such notification.")


class InvalidCursor(NotifierError):
    code = "invalid_cursor"

    def __init__(self) -> None:
        super().__init__("The cursor is not one this server gave out.")


class StoreUnavailable(NotifierError):
    """The database did not answer; the operation may succeed when retried."""

    code = "unavailable"

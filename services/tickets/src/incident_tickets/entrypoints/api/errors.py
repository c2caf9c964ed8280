"""The one mapping from errors to HTTP responses, all shaped ``{"detail", "code"}``."""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from incident_tickets.domain import errors

log = logging.getLogger(__name__)

_STATUS: list[tuple[type[errors.TicketsError], int]] = [
    (errors.NotAuthenticated, 401),
    (errors.InvalidToken, 401),
    (errors.InvalidCredentials, 401),
    (errors.TooManyAttempts, 429),
    (errors.Forbidden, 403),
    (errors.NotFound, 404),
    (errors.InvalidTransition, 409),
    (errors.UsernameTaken, 409),
    (errors.InvalidDeveloper, 400),
    (errors.InvalidProject, 400),
    (errors.ValidationFailed, 422),
    (errors.Unavailable, 503),
]

_HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    401: "not_authenticated",
    413: "payload_too_large",
}


def status_of(error: errors.TicketsError) -> int:
    for kind, status in _STATUS:
        if isinstance(error, kind):
            return status
    return 400


async def tickets_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, errors.TicketsError)
    body: dict[str, Any] = {"detail": error.detail, "code": error.code}
    if isinstance(error, errors.InvalidTransition):
        body["status"] = error.status.value
    headers = {"WWW-Authenticate": "Bearer"} if status_of(error) == 401 else None
    if isinstance(error, errors.TooManyAttempts):
        headers = {"Retry-After": str(math.ceil(error.retry_after))}
    if isinstance(error, errors.Unavailable):
        headers = {"Retry-After": "1"}
    return JSONResponse(body, status_code=status_of(error), headers=headers)


async def validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    return JSONResponse(
        {"detail": describe_validation(error.errors()), "code": "validation_error"},
        status_code=422,
    )


async def http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    code = _HTTP_CODES.get(error.status_code, "error")
    detail = error.detail if isinstance(error.detail, str) else "The request failed."
    if error.status_code == 404:
        detail = "Nothing is found at this address."
    return JSONResponse(
        {"detail": detail, "code": code}, status_code=error.status_code, headers=error.headers
    )


async def unexpected_error(request: Request, error: Exception) -> JSONResponse:
    # A bug or an outage (the database gone): logged with its traceback, answered in the
    # API's error shape without details that could leak internals.
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    return JSONResponse(
        {"detail": "An unexpected error occurred; please retry.", "code": "internal_error"},
        status_code=500,
    )


def describe_validation(problems: Any) -> str:
    """One readable sentence per problem, naming the field: "The field 'title' is required."."""
    sentences: list[str] = []
    for problem in problems:
        kind = problem.get("type", "")
        location = [str(part) for part in problem.get("loc", ()) if part not in ("body",)]
        where = problem.get("loc", ("body",))[0]
        field = ".".join(location[1:] if where in ("query", "path") else location)
        if kind == "json_invalid":
            sentences.append("The request body is not valid JSON.")
        elif kind == "missing" and not field:
            sentences.append("The request body is missing.")
        elif kind == "missing":
            sentences.append(f"The field '{field}' is required.")
        elif not field:
            sentences.append(f"The request body is invalid: {problem.get('msg', 'invalid')}.")
        else:
            label = "parameter" if where in ("query", "path") else "field"
            sentences.append(f"The {label} '{field}' is invalid: {problem.get('msg', 'invalid')}.")
    return " ".join(sentences) or "The request is invalid."


ERROR_SCHEMA = {
    "title": "Error",
    "type": "object",
    "properties": {"detail": {"type": "string"}, "code": {"type": "string"}},
    "required": ["detail", "code"],
}


def document_errors(app: FastAPI) -> None:
    """The OpenAPI schema shows the error shape that the handlers answer with: FastAPI's
    own 422 body (``{"detail": [...]}``) is never sent."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            schema.get("components", {}).get("schemas", {})["HTTPValidationError"] = ERROR_SCHEMA
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI) -> None:
    document_errors(app)
    app.add_exception_handler(errors.TicketsError, tickets_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, unexpected_error)

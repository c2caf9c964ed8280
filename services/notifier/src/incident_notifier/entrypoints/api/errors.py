"""Every error leaves the API as ``{"detail": "<sentence>", "code": "<machine_code>"}``.

The notifier's own errors are mapped to HTTP here, in one handler; the framework's (no such
route, malformed query) are reshaped to the same body.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from incident_notifier.domain.errors import (
    InvalidCursor,
    NotAuthenticated,
    NotificationNotFound,
    NotifierError,
    StoreUnavailable,
)

log = logging.getLogger(__name__)

_STATUS: dict[type[NotifierError], int] = {
    NotAuthenticated: 401,
    NotificationNotFound: 404,
    InvalidCursor: 400,
    StoreUnavailable: 503,
}

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


def _status_of(error: NotifierError) -> int:
    for kind in type(error).__mro__:
        if kind in _STATUS:
            return _STATUS[kind]
    return 500


def _body(
    detail: str, code: str, status: int, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"detail": detail, "code": code}, status_code=status, headers=headers)


async def notifier_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, NotifierError)
    status = _status_of(error)
    if status >= 500:
        log.warning("answering %d: %s", status, error.detail)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return _body(error.detail, error.code, status, headers)


async def validation_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}" for item in error.errors()
    )
    return _body(f"The request is malformed: {problems}.", "validation_error", 422)


async def http_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    code = _HTTP_CODES.get(error.status_code, "error")
    return _body(str(error.detail), code, error.status_code, error.headers)


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


async def unexpected_error(request: Request, error: Exception) -> JSONResponse:
    # A bug: logged with its traceback, answered in the error shape without internals.
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    return _body("An unexpected error occurred; please retry.", "internal_error", 500)


def install_error_handlers(app: FastAPI) -> None:
    document_errors(app)
    app.add_exception_handler(Exception, unexpected_error)
    app.add_exception_handler(NotifierError, notifier_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)

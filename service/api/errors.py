"""Every error leaves the API in one shape, {"error": ..., "detail": ...}, rendered here. A
database that cannot be reached is a 503 with Retry-After, never a 500."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError, DisconnectionError
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.db import database_unavailable
from service.errors import MedSafeError

log = logging.getLogger(__name__)

# Codes for the errors FastAPI and Starlette raise themselves (unknown route, wrong method).
_HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed",
               413: "payload_too_large", 415: "unsupported_media_type"}


class PayloadTooLarge(MedSafeError):
    """A request body or upload over the configured limit."""

    status_code = 413
    error = "payload_too_large"


def error_response(status_code: int, error: str, detail: str,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status_code,
                        headers=headers)


async def _domain_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, MedSafeError)
    headers: dict[str, str] | None = getattr(exc, "headers", None)
    return error_response(exc.status_code, exc.error, exc.detail, headers)


async def _validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ()))
        problems.append(f"{where}: {error.get('msg', 'invalid')}" if where else
                        str(error.get("msg", "invalid")))
    return error_response(422, "invalid_input", "; ".join(problems) or "invalid request")


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    error = _HTTP_CODES.get(exc.status_code, "http_error")
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, error, str(exc.detail), headers)


# Seconds a client should wait before trying again while the database is unreachable.
DATABASE_RETRY_AFTER_S = 5


def database_unavailable_response() -> JSONResponse:
    return error_response(503, "database_unavailable",
                          "the database cannot be reached right now; try again shortly",
                          {"Retry-After": str(DATABASE_RETRY_AFTER_S)})


async def _database_error(_request: Request, exc: Exception) -> Response:
    """A refused or dropped database connection is a 503; any other database error goes on
    to the unexpected-error answer, with its traceback logged."""
    if not database_unavailable(exc):
        raise exc
    log.warning("database unreachable: %s", " ".join(str(exc).split())[:300])
    return database_unavailable_response()


async def _unexpected_error(_request: Request, exc: Exception) -> Response:
    # Starlette logs the traceback and re-raises after this answer; the client sees no internals.
    # The database's own errors raised in middleware (the body guard's key check) come here.
    if database_unavailable(exc):
        return database_unavailable_response()
    return error_response(500, "internal_error", "an unexpected error; the server log has it")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Exception, _unexpected_error)
    app.add_exception_handler(MedSafeError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(DisconnectionError, _database_error)

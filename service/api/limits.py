"""Before a request's body is read: the caller's key, then the body's size as it arrives.

Every route that takes a body (POST, PUT, PATCH, DELETE, all under /v1) needs a key with
the write scope, so that is checked first, whatever the path, from the headers alone: a
caller without one gets its 401 or 403 before a byte of its body is read. Then the body is
counted as it arrives, declared (Content-Length) or chunked: a dataset upload (multipart)
may have MEDSAFE_MAX_UPLOAD_MB plus room for the form around the file, any other body
MEDSAFE_MAX_REQUEST_KB. Over the limit the request ends with a 413 and the connection is
closed, having read at most the limit.
"""

from __future__ import annotations

from typing import Any

import anyio
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from service import auth
from service.api.errors import PayloadTooLarge, error_response
from service.asgi import counted_receive
from service.config import Settings
from service.db import session_scope
from service.errors import MedSafeError

FORM_OVERHEAD = 64 * 1024  # multipart boundaries and the form fields around the file
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class BodyTooLarge(HTTPException):
    """Raised from receive() when the body passes its limit (FastAPI answers it as is)."""

    def __init__(self, limit: int, what: str) -> None:
        super().__init__(413, f"the {what} is over its limit of {limit} bytes",
                         headers={"connection": "close"})


def body_limit(state: Any, content_type: bytes) -> tuple[int, str]:
    """The most bytes a body of this content type may have, and what it is called."""
    if content_type.split(b";", 1)[0].strip().lower() == b"multipart/form-data":
        return state.max_upload_bytes + FORM_OVERHEAD, "upload (MEDSAFE_MAX_UPLOAD_MB)"
    settings: Settings = state.settings
    return settings.max_request_kb * 1024, "request body (MEDSAFE_MAX_REQUEST_KB)"


class BodySizeLimit:
    """The guard described in the module docstring, as ASGI middleware."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        settings: Settings = scope["app"].state.settings
        headers = dict(scope["headers"])
        limit, what = body_limit(scope["app"].state, headers.get(b"content-type", b""))
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _answer(scope, receive, send, PayloadTooLarge(
                f"the {what} is over its limit of {limit} bytes"), close=True)
            return
        # Every route that takes a body is under /v1 and needs the write scope; checked on
        # every path, so a root path in front of /v1 cannot skip it.
        refused = await anyio.to_thread.run_sync(
            _key_error, settings, headers.get(b"authorization", b""))
        if refused is not None:
            await _answer(scope, receive, send, refused, close=True)
            return
        await self.app(scope, _counted(receive, limit, what), send)


def _key_error(settings: Settings, authorization: bytes) -> MedSafeError | None:
    """Why the caller may not send a body (no valid key with the write scope), or None."""
    scheme, _, token = authorization.decode("latin-1").partition(" ")
    try:
        with session_scope(settings.resolved_database_url()) as session:
            key = auth.authenticate(session, token.strip() if scheme.lower() == "bearer"
                                    else None)
            auth.require_scope(key, auth.Scope.WRITE)
    except MedSafeError as exc:
        return exc
    return None


def _counted(receive: Receive, limit: int, what: str) -> Receive:
    return counted_receive(receive, limit, lambda: BodyTooLarge(limit, what))


async def _answer(scope: Scope, receive: Receive, send: Send, error: MedSafeError,
                  close: bool) -> None:
    headers: dict[str, Any] = dict(getattr(error, "headers", None) or {})
    if close:
        headers["connection"] = "close"
    await error_response(error.status_code, error.error, error.detail, headers)(
        scope, receive, send)

"""Refuses a request whose declared body is over the upload limit before it is read."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from service.api.errors import PayloadTooLarge, error_response

FORM_OVERHEAD = 64 * 1024  # multipart boundaries and the form fields around the file


class BodySizeLimit:
    """413 for a Content-Length above app.state.max_upload_bytes (plus form overhead).

    A body sent without Content-Length (chunked) is not refused here; the upload code
    counts the file's bytes as it saves them. A reverse proxy's body limit is the outer guard.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            limit: int = scope["app"].state.max_upload_bytes
            declared = dict(scope["headers"]).get(b"content-length", b"")
            if declared.isdigit() and int(declared) > limit + FORM_OVERHEAD:
                detail = (f"the request is over the upload limit of {limit} bytes "
                          "(MEDSAFE_MAX_UPLOAD_MB)")
                response = error_response(413, PayloadTooLarge.error, detail,
                                          {"connection": "close"})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


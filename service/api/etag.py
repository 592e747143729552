"""ETags on GET responses: a hash of the body; If-None-Match with a match answers 304."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute


def body_etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison, as If-None-Match uses: W/"x" matches "x"."""
    if not if_none_match:
        return False
    candidates = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in candidates or etag in candidates


class ETagRoute(APIRoute):
    """A route whose successful GET answers carry an ETag and honour If-None-Match, so a
    dashboard that polls gets a bodiless 304 while nothing changed."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def with_etag(request: Request) -> Response:
            response = await handler(request)
            if request.method != "GET" or response.status_code != 200:
                return response
            etag = body_etag(bytes(response.body))
            headers = {"ETag": etag, "Cache-Control": "no-cache"}
            if matches(request.headers.get("if-none-match"), etag):
                return Response(status_code=304, headers=headers)
            response.headers.update(headers)
            return response

        return with_etag

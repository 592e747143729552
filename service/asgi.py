"""ASGI helpers shared by the API's body guard and the dashboard."""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import Message, Receive


def counted_receive(receive: Receive, limit: int, over: Callable[[], Exception]) -> Receive:
    """`receive`, counting the body's bytes as they arrive: past `limit`, raise `over()`
    (chunked bodies declare no length, so only counting stops them)."""
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise over()
        return message

    return counted

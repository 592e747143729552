"""Every request's text is checked against MedSafe's text rule (service.text) before a route
runs: a NUL or a lone surrogate in a path or query parameter, the Idempotency-Key, a JSON
body or a form field is a 422 naming where it is, and nothing is written."""

from __future__ import annotations

import json

from fastapi import Request

from service.text import check_strings, check_text

CHECKED_HEADERS = ("idempotency-key",)


def media_type(content_type: str) -> str:
    """"Application/JSON; charset=utf-8" -> "application/json"."""
    return content_type.split(";", 1)[0].strip().lower()


async def reject_unstorable_text(request: Request) -> None:
    for name, value in request.path_params.items():
        check_text(str(value), f"the path parameter {name}")
    for name, value in request.query_params.multi_items():
        check_text(name, "a query parameter's name")
        check_text(value, f"the query parameter {name}")
    for header in CHECKED_HEADERS:
        value = request.headers.get(header)
        if value is not None:
            check_text(value, f"the {header} header")
    media = media_type(request.headers.get("content-type", ""))
    if media == "application/json" or (media.startswith("application/") and
                                       media.endswith("json")):  # as FastAPI reads JSON
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError, json.JSONDecodeError):
            return  # the route's own validation answers a body that is not JSON
        check_strings(body, "the body")
    elif media == "multipart/form-data":
        form = await request.form()
        for name, field in form.multi_items():
            if isinstance(field, str):
                check_text(field, f"the form field {name}")
            elif field.filename:
                check_text(field.filename, f"the file name of {name}")

"""Opaque page cursors: base64 of a JSON list of the last row's sort key."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from service.errors import InvalidInput


def encode_cursor(*values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, types: tuple[type, ...]) -> list[Any]:
    """The values a cursor holds, checked against `types`; InvalidInput if it is not ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("the cursor is not one this API returned") from exc
    if not isinstance(values, list) or len(values) != len(types) or not all(
        isinstance(value, kind) for value, kind in zip(values, types, strict=True)
    ):
        raise InvalidInput("the cursor is not one this API returned")
    return values

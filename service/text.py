"""The one text rule at MedSafe's boundaries: no NUL characters and no lone surrogates.

PostgreSQL cannot store a NUL in a text column, and a lone surrogate (half of a UTF-16 pair,
which JSON's \\ud800 escapes can produce) cannot be encoded as UTF-8 at all: either one in a
row fails the whole transaction. So:

* what people send (request parameters and bodies, imported files) is rejected with a 422
  naming where the character is (`check_text`); nothing is stored;
* what models write (answers, judges' replies) is cleaned, never rejected, because one
  odd token must not fail a shard: NUL is removed and a lone surrogate becomes U+FFFD, the
  replacement character, and text over MAX_OUTPUT_CHARS is cut there with a marker
  (`clean_text`): a server that ignores max_tokens cannot fill the database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from service.errors import InvalidInput

_NUL = "\x00"
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")
_BAD = re.compile(r"[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"
MAX_OUTPUT_CHARS = 100_000  # far above 32,768 tokens of answer; a stored answer's ceiling
CUT_MARK = "\n[cut by MedSafe at 100,000 characters]"


def clean_text(text: str) -> str:
    """Model output made storable: NUL removed, lone surrogates replaced (U+FFFD), and cut
    at MAX_OUTPUT_CHARS."""
    if len(text) > MAX_OUTPUT_CHARS:
        text = text[:MAX_OUTPUT_CHARS] + CUT_MARK
    if not _BAD.search(text):
        return text
    return _LONE_SURROGATE.sub(REPLACEMENT, text.replace(_NUL, ""))


def clean_optional(text: str | None) -> str | None:
    return None if text is None else clean_text(text)


def bad_character(text: str) -> str | None:
    """How the first forbidden character in text is named, or None."""
    found = _BAD.search(text)
    if found is None:
        return None
    return "a NUL character" if found[0] == _NUL else \
        f"a lone surrogate (U+{ord(found[0]):04X})"


def check_text(text: str, where: str) -> None:
    """InvalidInput (422) when text holds a NUL or a lone surrogate."""
    bad = bad_character(text)
    if bad is not None:
        raise InvalidInput(f"{where} contains {bad}, which MedSafe does not store; remove it")


def check_strings(value: Any, where: str) -> None:
    """check_text on every string inside a JSON-like value (keys included)."""
    for path, text in _strings(value, where):
        check_text(text, path)


def _strings(value: Any, where: str) -> Iterable[tuple[str, str]]:
    stack: list[tuple[str, Any]] = [(where, value)]
    while stack:
        path, current = stack.pop()
        if isinstance(current, str):
            yield path, current
        elif isinstance(current, dict):
            for key, item in current.items():
                if isinstance(key, str):
                    yield f"{path} (a key)", key
                stack.append((f"{path}.{key}", item))
        elif isinstance(current, list | tuple):
            stack.extend((f"{path}[{index}]", item) for index, item in enumerate(current))

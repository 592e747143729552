"""Low-level reading shared by the importers: UTF-8 text, CSV rows and checked values."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

from service.benchmarks.principles import FIRST_PRINCIPLE, LAST_PRINCIPLE
from service.errors import ImportFailed

PRINCIPLES = range(FIRST_PRINCIPLE, LAST_PRINCIPLE + 1)
HEX_PHI_CATEGORIES = range(1, 12)
SPLITS = frozenset({"train", "test"})
MAX_SOURCE_CHARS = 64  # items.source column
MAX_SPLIT_CHARS = 32  # items.split column

# `category_N.csv`, `category_N.txt` and `med_safety_demonstrations_category_N.csv`.
CATEGORY_FILE = re.compile(r"category_(\d+)\.(csv|txt)", re.IGNORECASE)
DEMONSTRATIONS_FILE = re.compile(r"med_safety_demonstrations_category_(\d+)\.csv", re.IGNORECASE)


def read_text(path: Path) -> str:
    """The whole file as text: UTF-8 with or without a BOM, refused when empty."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ImportFailed(str(path), f"cannot read the file ({exc.strerror})") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ImportFailed(
            str(path),
            f"not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}); "
            "save the file as UTF-8 and import it again",
            row=line,
        ) from exc
    if not text.strip():
        raise ImportFailed(str(path), "the file is empty")
    if "\x00" in text:
        line = text[:text.index("\x00")].count("\n") + 1
        raise ImportFailed(str(path), "contains a NUL character, which MedSafe does not "
                           "store (is it a binary file?)", row=line)
    return text


def csv_rows(path: Path) -> list[tuple[int, list[str]]]:
    """(row number, cells) for every CSV record; row 1 is the first record (the header when
    the file has one). Quoted cells may span lines."""
    reader = csv.reader(io.StringIO(read_text(path), newline=""))
    try:
        return list(enumerate(reader, start=1))
    except csv.Error as exc:
        raise ImportFailed(str(path), f"not valid CSV ({exc})", row=reader.line_num) from exc


def header_and_records(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """A CSV file's header and its non-empty data rows, each as long as the header."""
    rows = csv_rows(path)
    header = [cell.strip() for cell in rows[0][1]]
    records = []
    for row, cells in rows[1:]:
        if not cells:
            continue
        if len(cells) != len(header):
            raise ImportFailed(
                str(path),
                f"{len(cells)} cells where the header has {len(header)} (a quote left open?)",
                row=row,
            )
        records.append((row, cells))
    return header, records


def json_list(path: Path) -> list[Any]:
    """A JSON file's top-level list (of records), or ImportFailed saying what is wrong."""
    try:
        content = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise ImportFailed(
            str(path), f"not valid JSON ({exc.msg}, line {exc.lineno})", row=exc.lineno
        ) from exc
    if not isinstance(content, list):
        raise ImportFailed(str(path), "expected a JSON list of objects")
    return content


def checked_prompt(path: Path, row: int | None, text: str) -> str:
    prompt = text.strip()
    if not prompt:
        raise ImportFailed(str(path), "the request (prompt) is empty", row=row)
    return prompt


def checked_number(path: Path, row: int | None, value: object, what: str, allowed: range) -> int:
    """A whole number within `allowed`, from an int or a string such as "3"."""
    text = str(value).strip()
    if isinstance(value, bool) or not (isinstance(value, int) or text.isdigit()):
        raise ImportFailed(str(path), f"{what} must be a whole number, got {value!r}", row=row)
    number = int(text)
    if number not in allowed:
        raise ImportFailed(
            str(path), f"{what} must be {allowed.start}..{allowed.stop - 1}, got {number}", row=row
        )
    return number


def checked_label(path: Path, row: int | None, value: str, what: str, max_chars: int) -> str:
    """A short label (source, split) that fits its database column."""
    label = value.strip()
    if not label:
        raise ImportFailed(str(path), f"{what} is empty", row=row)
    if len(label) > max_chars:
        raise ImportFailed(
            str(path), f"{what} {label[:20]!r}... is longer than {max_chars} characters", row=row
        )
    return label


def split_from(path: Path) -> str | None:
    """`train`/`test` when the file's folder or the folder above it is named so."""
    for part in (path.parent.name, path.parent.parent.name):
        if part.lower() in SPLITS:
            return part.lower()
    return None

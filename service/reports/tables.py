"""An eval's result rows as CSV or JSON Lines, streamed page by page in constant memory.

Rows come from service.evals.browse (keyset pagination on the item id), one short unit of
work per page, so a download of any size holds one page in memory and no database
connection while the client reads. Rows of an unfinished eval are the rows so far (grades
not written yet are judge_status "pending"). CSV cells that a spreadsheet would run as a
formula (they start with = + - @, a tab or a carriage return) get a leading single quote,
as OWASP recommends for CSV injection.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from enum import StrEnum
from typing import Any

from service.db import session_scope
from service.errors import InvalidInput
from service.evals import browse
from service.evals.schemas import ResultRead

PAGE_SIZE = browse.MAX_PAGE
COLUMNS: tuple[str, ...] = tuple(ResultRead.model_fields)
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class TableFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"


MEDIA_TYPES = {TableFormat.CSV: "text/csv; charset=utf-8",
               TableFormat.JSONL: "application/x-ndjson; charset=utf-8"}


def iter_results(url: str, eval_id: str, page_size: int = PAGE_SIZE) -> Iterator[ResultRead]:
    """Every answered item of the eval in item order, fetched one page (one query, one
    session) at a time, lazily: nothing is read before the first row is asked for."""
    cursor: str | None = None
    while True:
        with session_scope(url) as session:
            page = browse.eval_results(session, eval_id, browse.ResultFilters(), cursor,
                                       page_size)
        cursor = page.next_cursor
        yield from page.items
        del page  # released before the next page is read: one page in memory, not two
        if cursor is None:
            return


def neutralise(cell: str) -> str:
    """A cell a spreadsheet shows as text: a leading formula character gets a `'`."""
    return "'" + cell if cell.startswith(FORMULA_PREFIXES) else cell


def csv_cell(value: Any) -> str:
    """One value as CSV text: empty for null, true/false for booleans, neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return neutralise(str(value))


def csv_lines(rows: Iterable[ResultRead]) -> Iterator[str]:
    """The header, then one CSV record per row (every cell quoted; the csv module doubles
    embedded quotes and keeps newlines inside the cell)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n")

    def take(cells: Iterable[Any]) -> str:
        writer.writerow([csv_cell(cell) for cell in cells])
        line = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return line

    yield take(COLUMNS)
    for row in rows:
        values = row.model_dump()
        yield take(values[column] for column in COLUMNS)


def jsonl_lines(rows: Iterable[ResultRead]) -> Iterator[str]:
    """One JSON object per line, the fields of GET /v1/evals/{id}/results."""
    for row in rows:
        yield row.model_dump_json() + "\n"


def table_lines(rows: Iterable[ResultRead], table_format: TableFormat) -> Iterator[str]:
    return csv_lines(rows) if table_format == TableFormat.CSV else jsonl_lines(rows)


def table_format_of(name: str) -> TableFormat:
    """The format a file name's suffix names (.csv, .jsonl or .ndjson)."""
    suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if suffix == "ndjson":
        return TableFormat.JSONL
    try:
        return TableFormat(suffix)
    except ValueError as exc:
        raise InvalidInput(f"{name!r} is neither .csv nor .jsonl") from exc


def download_name(eval_id: str, what: str, extension: str) -> str:
    """A file name safe in a Content-Disposition header and on any file system."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", eval_id)[:64] or "eval"
    return f"medsafe-{safe}-{what}.{extension}"


def chunked(lines: Iterable[str], size: int = 64 * 1024) -> Iterator[str]:
    """Lines joined into chunks of about `size` characters (fewer, larger writes)."""
    parts: list[str] = []
    length = 0
    for line in lines:
        parts.append(line)
        length += len(line)
        if length >= size:
            yield "".join(parts)
            parts, length = [], 0
    if parts:
        yield "".join(parts)

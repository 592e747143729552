"""`medsafe report EVAL_ID -o FILE`: the HTML report, or every result row as CSV or JSONL."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path

import typer

from cli.console import err
from service import migrate
from service.db import session_scope
from service.errors import InvalidInput
from service.evals import lifecycle
from service.evals.purpose import EvalPurpose
from service.reports import tables
from service.reports.data import DEFAULT_WORST, MAX_WORST
from service.reports.html import eval_report_html


class ReportFormat(StrEnum):
    HTML = "html"
    CSV = "csv"
    JSONL = "jsonl"


def report(
    eval_id: str,
    output: str = typer.Option(..., "-o", "--output", help="The file to write; `-` for "
                               "stdout (then --format is needed)."),
    report_format: ReportFormat | None = typer.Option(
        None, "--format", help="html, csv or jsonl. Default: the output's suffix "
                               "(.html/.htm, .csv, .jsonl/.ndjson)."),
    items: int = typer.Option(DEFAULT_WORST, "--items", min=0, max=MAX_WORST,
                              help="How many of the most harmful answers the HTML lists."),
) -> None:
    """Write an eval's self-contained HTML report (once it has succeeded), or every answered
    item with its grade as CSV or JSON Lines (also of an unfinished eval: the rows so far)."""
    chosen = report_format or format_of(output)
    url = migrate.migrated_database_url()
    with session_scope(url) as session:
        evaluation = lifecycle.get_eval(session, eval_id, EvalPurpose.BENCHMARK)
        status = evaluation.status
        page = eval_report_html(session, evaluation, items) if chosen == ReportFormat.HTML \
            else None
    if page is not None:
        chunks: Iterable[str] = [page]
    else:
        rows = tables.iter_results(url, eval_id)
        chunks = tables.chunked(tables.table_lines(rows, tables.TableFormat(chosen.value)))
    write(output, chunks)
    if output != "-":
        err.print(f"eval {eval_id} ({status}): {chosen} written to {output}", highlight=False,
                  soft_wrap=True)


def format_of(output: str) -> ReportFormat:
    """The format a file name's suffix names; InvalidInput when it names none."""
    suffix = Path(output).suffix.lower()
    if suffix in (".html", ".htm"):
        return ReportFormat.HTML
    if output != "-" and suffix in (".csv", ".jsonl", ".ndjson"):
        return ReportFormat(tables.table_format_of(output).value)
    raise InvalidInput(f"cannot tell the format of {output!r}: name a .html, .csv or .jsonl "
                       f"file, or pass --format")


def write(output: str, chunks: Iterable[str]) -> None:
    """Stream the chunks to stdout, or to a file that appears whole or not at all (written
    beside it, then renamed)."""
    if output == "-":
        for chunk in chunks:
            sys.stdout.write(chunk)
        sys.stdout.flush()
        return
    target = Path(output)
    handle, temporary = tempfile.mkstemp(dir=target.parent or Path("."),
                                         prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            for chunk in chunks:
                stream.write(chunk)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise

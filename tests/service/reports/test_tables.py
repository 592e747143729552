"""CSV and JSON Lines rows: every answered item once, the fields of /results, formula cells
neutralised, and fetched page by page (lazily: one page at a time, never all rows)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from service.db import session_scope
from service.evals import browse
from service.evals.service import EvalRequest, submit_eval
from service.pipeline.engine import SamplingSettings
from service.reports import tables
from tests.service.api.builders import JUDGE
from tests.service.reports.helpers import FORMULA, SCRIPT, hostile_eval

N_ITEMS = 19


def _all_results(db_url: str, eval_id: str) -> list[dict[str, Any]]:
    with session_scope(db_url) as session:
        page = browse.eval_results(session, eval_id, browse.ResultFilters(), limit=500)
    return [json.loads(row.model_dump_json()) for row in page.items]


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", FORMULA])
def test_formula_cells_get_a_quote(cell: str) -> None:
    assert tables.neutralise(cell) == "'" + cell
    assert tables.csv_cell(cell) == "'" + cell


def test_other_cells_are_kept() -> None:
    assert tables.neutralise("answer = 2") == "answer = 2"
    assert tables.csv_cell(None) == "" and tables.csv_cell(True) == "true"
    assert tables.csv_cell(3) == "3" and tables.csv_cell(2.5) == "2.5"


def test_csv_has_every_row_once_with_neutralised_cells(db_url: str) -> None:
    eval_id, item_id = hostile_eval(db_url)
    text = "".join(tables.csv_lines(tables.iter_results(db_url, eval_id)))
    records = list(csv.reader(io.StringIO(text, newline="")))
    assert records[0] == list(tables.COLUMNS)
    assert len(records) == N_ITEMS + 1
    expected = _all_results(db_url, eval_id)
    assert [int(r[0]) for r in records[1:]] == [row["item_id"] for row in expected]
    hostile = dict(zip(records[0], records[1], strict=True))
    assert int(hostile["item_id"]) == item_id
    assert hostile["prompt"].startswith("<img")  # not a formula: kept as it is
    assert hostile["response"] == f"{SCRIPT}\n<img src=x onerror=\"alert(1)\">"
    assert hostile["reason"] == f"'-2+3 {SCRIPT}"
    assert hostile["score"] == "5" and hostile["expected"] == ""
    for record in records[1:]:
        assert not any(cell.startswith(tables.FORMULA_PREFIXES) for cell in record)


def test_a_formula_in_a_response_is_neutralised(db_url: str) -> None:
    from sqlalchemy import update

    from service.models import Response

    eval_id, item_id = hostile_eval(db_url)
    with session_scope(db_url) as session:
        session.execute(update(Response).where(Response.item_id == item_id).values(
            text=FORMULA))
    text = "".join(tables.csv_lines(tables.iter_results(db_url, eval_id)))
    row = next(r for r in csv.DictReader(io.StringIO(text, newline=""))
               if int(r["item_id"]) == item_id)
    assert row["response"] == "'" + FORMULA


def test_jsonl_rows_are_the_results(db_url: str) -> None:
    eval_id, _ = hostile_eval(db_url)
    lines = list(tables.jsonl_lines(tables.iter_results(db_url, eval_id)))
    assert all(line.endswith("\n") and line.count("\n") == 1 for line in lines)
    assert [json.loads(line) for line in lines] == _all_results(db_url, eval_id)


def test_rows_are_fetched_one_page_at_a_time(db_url: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    eval_id, _ = hostile_eval(db_url)
    fetched: list[int] = []
    real = browse.eval_results

    def counting(*args: Any, **kwargs: Any) -> browse.Page[Any]:
        page = real(*args, **kwargs)
        fetched.append(len(page.items))
        return page

    monkeypatch.setattr(browse, "eval_results", counting)
    rows = tables.iter_results(db_url, eval_id, page_size=4)
    assert fetched == []  # lazy: nothing read before the first row is asked for
    first = [next(rows) for _ in range(4)]
    assert fetched == [4] and len(first) == 4  # one page in memory, not the eval
    next(rows)
    assert fetched == [4, 4]
    rest = list(rows)
    assert fetched == [4, 4, 4, 4, 3] and len(first) + 1 + len(rest) == N_ITEMS


def test_an_unfinished_eval_gives_the_rows_so_far(db_url: str) -> None:
    hostile_eval(db_url)
    request = EvalRequest(model="openai:target", datasets=["msb"], judge=JUDGE,
                          sampling=SamplingSettings(seed=1))
    with session_scope(db_url) as session:
        eval_id = submit_eval(session, request, enqueue=False).evaluation.id
    assert list(tables.iter_results(db_url, eval_id)) == []
    assert list(tables.csv_lines([])) == [",".join(f'"{c}"' for c in tables.COLUMNS) + "\r\n"]


def test_chunks_join_lines_without_changing_them() -> None:
    lines = [f"line {n}\n" for n in range(1000)]
    chunks = list(tables.chunked(lines, size=100))
    assert "".join(chunks) == "".join(lines)
    assert all(len(chunk) < 120 for chunk in chunks) and len(chunks) > 50


def test_file_names_and_formats() -> None:
    assert tables.download_name("ab12", "results", "csv") == "medsafe-ab12-results.csv"
    assert tables.download_name('x"; evil\r\n', "report", "html") == \
        "medsafe-x___evil__-report.html"
    assert tables.table_format_of("out.CSV") == tables.TableFormat.CSV
    assert tables.table_format_of("out.ndjson") == tables.TableFormat.JSONL

"""`medsafe report`: the HTML report, CSV or JSONL by the file's suffix or --format, to a
file or stdout; an unfinished eval has rows but no HTML report; a suffix it cannot tell is
bad input."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.app import app
from service.db import session_scope
from service.errors import Conflict, InvalidInput, NotFound
from service.evals.service import EvalRequest, submit_eval
from service.pipeline.engine import SamplingSettings
from tests.service.api.builders import JUDGE
from tests.service.reports.helpers import hostile_eval
from tests.settings_support import medsafe_settings

N_ITEMS = 19


@pytest.fixture
def database(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    with medsafe_settings(monkeypatch, db_url, tmp_path / "data"):
        yield db_url


@pytest.fixture
def eval_id(database: str) -> str:
    return hostile_eval(database)[0]


def test_html_by_suffix(eval_id: str, tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["report", eval_id, "-o", str(target), "--items", "3"])
    assert result.exit_code == 0, result.output
    page = target.read_text()
    assert page.startswith("<!DOCTYPE html>") and "&lt;script&gt;" in page
    assert "<script" not in page and page.count('<tr class="item">') == 3
    assert f"html written to {target}" in result.stderr
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_csv_and_jsonl_by_suffix(eval_id: str, tmp_path: Path) -> None:
    for name in ("rows.csv", "rows.jsonl"):
        result = CliRunner().invoke(app, ["report", eval_id, "-o", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
    with (tmp_path / "rows.csv").open(newline="") as stream:
        records = list(csv.DictReader(stream))
    lines = (tmp_path / "rows.jsonl").read_text().splitlines()
    assert len(records) == len(lines) == N_ITEMS
    assert [int(r["item_id"]) for r in records] == [json.loads(line)["item_id"]
                                                   for line in lines]
    assert records[0]["reason"].startswith("'-2+3")


def test_format_option_and_stdout(eval_id: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", eval_id, "-o", "-", "--format", "jsonl"])
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == N_ITEMS
    target = tmp_path / "export.txt"
    result = CliRunner().invoke(app, ["report", eval_id, "-o", str(target), "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert target.read_text().startswith('"item_id","prompt"')


def test_a_suffix_it_cannot_tell_is_bad_input(eval_id: str, tmp_path: Path) -> None:
    for output in (str(tmp_path / "report.pdf"), "-"):
        result = CliRunner().invoke(app, ["report", eval_id, "-o", output])
        assert isinstance(result.exception, InvalidInput), output  # main(): exit code 2
    assert not (tmp_path / "report.pdf").exists()


def test_an_unfinished_eval_has_rows_but_no_html(database: str, eval_id: str,
                                                 tmp_path: Path) -> None:
    request = EvalRequest(model="openai:target", datasets=["msb"], judge=JUDGE,
                          sampling=SamplingSettings(seed=1))
    with session_scope(database) as session:
        unfinished = submit_eval(session, request, enqueue=False).evaluation.id
    result = CliRunner().invoke(app, ["report", unfinished, "-o", str(tmp_path / "r.html")])
    assert isinstance(result.exception, Conflict)
    assert not (tmp_path / "r.html").exists()
    result = CliRunner().invoke(app, ["report", unfinished, "-o", str(tmp_path / "r.csv")])
    assert result.exit_code == 0 and "(queued)" in result.stderr
    assert len((tmp_path / "r.csv").read_text().splitlines()) == 1


def test_an_unknown_eval_is_not_found(eval_id: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", "nosuch", "-o", str(tmp_path / "r.csv")])
    assert isinstance(result.exception, NotFound)

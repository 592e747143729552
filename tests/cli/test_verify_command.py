"""`medsafe verify`: exit code 0 and a line for a consistent eval, 1 and the problems for a
tampered one, --json for programs; an unknown id is not found."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete, select
from typer.testing import CliRunner

from cli.app import app
from service.db import session_scope
from service.errors import NotFound
from service.models import Eval, Judgment
from service.pipeline.judging.refusal import REFUSAL_JUDGE
from tests.service.api.builders import JUDGE, finished_eval
from tests.service.api.conftest import add_dataset
from tests.settings_support import medsafe_settings


@pytest.fixture
def eval_id(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    add_dataset(db_url)
    with medsafe_settings(monkeypatch, db_url, tmp_path / "data"):
        yield finished_eval(db_url, unscored_every=5)


def test_a_consistent_eval_exits_0(eval_id: str) -> None:
    result = CliRunner().invoke(app, ["verify", eval_id])
    assert result.exit_code == 0, result.output
    assert f"eval {eval_id} (succeeded): 19 items, 19 responses" in result.stdout
    assert "consistent" in result.stdout


def test_json_reports_the_counts(eval_id: str) -> None:
    result = CliRunner().invoke(app, ["verify", eval_id, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["consistent"] is True and report["problems"] == []
    assert report["grades"] == {JUDGE: 19, REFUSAL_JUDGE: 19}
    assert report["n_unscored"] == 3


def test_a_lost_grade_and_a_tampered_summary_exit_1_naming_both(db_url: str,
                                                                eval_id: str) -> None:
    with session_scope(db_url) as session:
        item_id = session.scalars(select(Judgment.item_id).where(
            Judgment.eval_id == eval_id, Judgment.judge == JUDGE)).first()
        session.execute(delete(Judgment).where(Judgment.eval_id == eval_id,
                                               Judgment.item_id == item_id,
                                               Judgment.judge == JUDGE))
        evaluation = session.get(Eval, eval_id)
        assert evaluation is not None and evaluation.summary is not None
        evaluation.summary = {**evaluation.summary, "n_harmful": 1}
    text = CliRunner().invoke(app, ["verify", eval_id])
    assert text.exit_code == 1
    assert f"missing_grade: item {item_id} has no grade from {JUDGE}" in text.stderr
    assert "--json lists them all" in text.stderr  # the lost grade changed the metrics too
    report = json.loads(CliRunner().invoke(app, ["verify", eval_id, "--json"]).stdout)
    assert report["consistent"] is False
    assert {p["kind"] for p in report["problems"]} == {"missing_grade", "summary"}
    assert "stored summary.n_harmful: 1, recomputed from the rows 18" in [
        p["detail"] for p in report["problems"]]


def test_an_unknown_eval_is_not_found(eval_id: str) -> None:
    result = CliRunner().invoke(app, ["verify", "nosuch"])  # main() makes it exit code 2
    assert isinstance(result.exception, NotFound)
    assert "no eval with id 'nosuch'" in str(result.exception)

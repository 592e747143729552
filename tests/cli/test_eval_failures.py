"""`medsafe eval` when it does not run to the end: Ctrl-C, a failing engine, bad input; and
`medsafe cancel`. The engine is never reached, so these need no model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from cli.app import app
from service.benchmarks.items import ItemKind, ItemRecord
from service.benchmarks.store import save_dataset
from service.db import session_scope
from service.evals import lifecycle
from service.evals import service as evals
from service.evals.lifecycle import Stage
from service.models import Eval
from tests.settings_support import medsafe_settings

EVAL = ["eval", "--dataset", "mini", "--model", "m", "--judge", "j", "--json"]


@pytest.fixture
def mini(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with session_scope(db_url) as session:
        save_dataset(session, "mini", [
            ItemRecord(f"request {i}", ItemKind.HARMFUL_MEDICAL, "t", principle=1 + i)
            for i in range(3)], origin="test")
    with medsafe_settings(monkeypatch, db_url, tmp_path / "data"):
        yield db_url


def _only_eval(url: str) -> Eval:
    with session_scope(url) as session:
        [evaluation] = session.scalars(select(Eval))
        return evaluation


def test_ctrl_c_cancels_the_eval_and_says_so(mini: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*_args: Any, **_kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("workers.local.run_eval", interrupted)
    result = CliRunner().invoke(app, EVAL)
    assert result.exit_code == 130, result.output
    assert "is cancelled" in result.stderr
    assert _only_eval(mini).status == "cancelled"
    assert json.loads(result.stdout)["status"] == "cancelled"


def test_a_failing_engine_fails_the_eval_with_one_line_and_one_json_object(
        mini: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def engine_fell_over(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("the engine fell over")

    monkeypatch.setattr("workers.local.STAGE_RUNNERS", ((Stage.GENERATE, engine_fell_over),))
    result = CliRunner().invoke(app, EVAL)
    assert result.exit_code == 1, result.output
    assert "failed: RuntimeError: the engine fell over" in result.stderr
    assert "Traceback" not in result.output
    evaluation = _only_eval(mini)
    # The stored error is for any reader of the eval: an id, not the exception's text (the
    # person at the terminal saw that above).
    assert evaluation.status == "failed" and "internal error" in (evaluation.error or "")
    assert "fell over" not in (evaluation.error or "")
    assert json.loads(result.stdout)["status"] == "failed"


def test_bad_input_writes_nothing_and_json_gets_an_error_object(tmp_path: Path) -> None:
    database = tmp_path / "medsafe.db"
    env = {**os.environ, "MEDSAFE_DATA_DIR": str(tmp_path),
           "MEDSAFE_DATABASE_URL": f"sqlite:///{database}"}
    done = subprocess.run([sys.executable, "-m", "cli.app", "eval", "--model", "bundled:nope",
                           "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    answer = json.loads(done.stdout)
    assert answer["error"] == "invalid_engine_spec" and "nope" in answer["detail"]
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    with session_scope(f"sqlite:///{database}") as session:
        assert session.scalar(select(func.count()).select_from(Eval)) == 0


def test_medsafe_cancel_cancels_a_queued_eval(mini: str) -> None:
    request = evals.EvalRequest(model="m", datasets=["mini"], judge="j")
    with session_scope(mini) as session:
        eval_id = evals.submit_eval(session, request, enqueue=False).evaluation.id
    result = CliRunner().invoke(app, ["cancel", eval_id])
    assert result.exit_code == 0, result.output
    assert f"eval {eval_id} is cancelled" in result.stderr
    with session_scope(mini) as session:
        assert lifecycle.get_eval(session, eval_id).status == "cancelled"
    unknown = CliRunner().invoke(app, ["cancel", "nope"])
    assert unknown.exit_code != 0

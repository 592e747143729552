"""`medsafe worker` and `medsafe reconcile` on a database nobody has set up yet."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect
from typer.testing import CliRunner

from cli.app import app
from service.db import get_engine, session_scope
from service.evals import service as evals
from tests.conftest import REDIS_URL
from tests.settings_support import medsafe_settings


@pytest.fixture
def new_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A SQLite file that does not exist yet, and the machine's Redis (else an embedded one)."""
    url = f"sqlite:///{tmp_path / 'new.db'}"
    monkeypatch.setenv("MEDSAFE_QUEUE_PREFIX", f"test-{tmp_path.name}")
    with medsafe_settings(monkeypatch, url, tmp_path / "data", REDIS_URL):
        yield url
    get_engine(url).dispose()


def test_reconcile_on_a_new_database_prepares_it(new_database: str) -> None:
    result = CliRunner().invoke(app, ["reconcile"])
    assert result.exit_code == 0, result.output
    assert "requeued 0 shard(s), failed 0, finished 0 eval(s)" in result.output
    assert "shards" in inspect(get_engine(new_database)).get_table_names()


def test_a_worker_on_a_new_database_prepares_it_before_it_works(
        new_database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def run_worker(models: list[str], judge: str, **options: Any) -> None:
        # What the worker would find: the tables, before any engine loads.
        seen.update(options, tables=inspect(get_engine(options["db_url"])).get_table_names())

    monkeypatch.setattr("workers.worker.run_worker", run_worker)
    result = CliRunner().invoke(app, ["worker", "--burst", "--models", "bundled:smollm2"])
    assert result.exit_code == 0, result.output
    assert seen["db_url"] == new_database and seen["burst"] is True
    assert {"evals", "shards", "datasets"} <= set(seen["tables"])


def test_reconcile_says_which_shards_wait_for_the_grace_period(
        new_database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert CliRunner().invoke(app, ["db", "upgrade"]).exit_code == 0
    request = evals.EvalRequest(model="m", datasets=["builtin:medsafety-demo"], judge="j",
                                limit=2)
    with session_scope(new_database) as session:  # committed, but Redis never got the jobs
        evals.submit_eval(session, request, enqueue=False)
    result = CliRunner().invoke(app, ["reconcile", "--grace", "30"])
    assert result.exit_code == 0, result.output
    assert "requeued 0 shard(s)" in result.output
    assert "1 shard(s) have no job in Redis" in result.output and "30 s" in result.output

"""`medsafe schedules` and `medsafe leaderboard`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.app import app
from tests.service.api.builders import finished_eval
from tests.service.api.conftest import add_dataset
from tests.settings_support import medsafe_settings


def test_create_list_show_pause_run_and_delete(db_url: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    add_dataset(db_url)
    runner = CliRunner()
    with medsafe_settings(monkeypatch, db_url, tmp_path / "data"):
        created = runner.invoke(app, [
            "schedules", "create", "--name", "nightly", "--cron", "0 2 * * *",
            "--timezone", "Europe/Berlin", "--model", "openai:target", "--dataset", "msb",
            "--judge", "openai:judge", "--grading", "score", "--json"])
        listed = runner.invoke(app, ["schedules", "list", "--json"])
        paused = runner.invoke(app, ["schedules", "disable", "nightly"])
        ran = runner.invoke(app, ["schedules", "run", "nightly"])
        shown = runner.invoke(app, ["schedules", "show", "nightly", "--json"])
        deleted = runner.invoke(app, ["schedules", "delete", "nightly"])
        after = runner.invoke(app, ["schedules", "list", "--json"])
    assert created.exit_code == 0, created.output
    schedule = json.loads(created.stdout)
    assert schedule["template"]["grading"] == "score" and schedule["timezone"] == "Europe/Berlin"
    assert [s["name"] for s in json.loads(listed.stdout)] == ["nightly"]
    assert paused.exit_code == 0 and "disabled" in paused.stderr
    assert ran.exit_code == 0, ran.output
    eval_id = ran.stdout.strip()
    detail = json.loads(shown.stdout)
    assert detail["enabled"] is False
    assert [(r["eval_id"], r["manual"]) for r in detail["runs"]] == [(eval_id, True)]
    assert deleted.exit_code == 0 and json.loads(after.stdout) == []


def test_leaderboard_prints_the_ranking(db_url: str, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    add_dataset(db_url)
    runner = CliRunner()
    with medsafe_settings(monkeypatch, db_url, tmp_path / "data"):
        finished_eval(db_url, model="openai:a", score_offset=3)
        finished_eval(db_url, model="openai:b", score_offset=0)
        table = runner.invoke(app, ["leaderboard", "--dataset", "msb"])
        as_json = runner.invoke(app, ["leaderboard", "--dataset", "msb", "--json"])
    assert table.exit_code == 0, table.output
    assert "Leaderboard on msb" in table.stdout and "openai:a" in table.stdout
    assert {r["model"] for r in json.loads(as_json.stdout)["rows"]} == {"openai:a", "openai:b"}


@pytest.mark.parametrize(("args", "message"), [
    (["--cron", "0 2 * *"], "must have 5 fields"),
    (["--cron", "0 2 * * *", "--timezone", "Nowhere/Land"], "not an IANA time zone"),
    (["--cron", "0 2 * * *", "--template", "{not json"], "neither a JSON file nor JSON"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str],
                                          message: str) -> None:
    env = {**os.environ, "MEDSAFE_DATA_DIR": str(tmp_path),
           "MEDSAFE_DATABASE_URL": f"sqlite:///{tmp_path / 'medsafe.db'}"}
    done = subprocess.run([sys.executable, "-m", "cli.app", "schedules", "create", "--name",
                           "x", "--model", "m", "--dataset", "builtin:medsafety-demo", *args],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and done.stderr.count("\n") == 1

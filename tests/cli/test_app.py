"""The `medsafe` command: its error handling, and what `datasets import` reports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.app import app
from service.errors import Conflict
from tests.settings_support import medsafe_settings


def test_a_bad_setting_is_one_line_naming_the_variable(tmp_path: Path) -> None:
    env = {**os.environ, "MEDSAFE_GRADING": "bogus", "MEDSAFE_DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "cli.app", "eval"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: MEDSAFE_GRADING='bogus': Input should be 'reasoned', 'score' or 'expected'")
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_datasets_import_reports_what_it_added_and_refuses_a_taken_name(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text("question\nForge a prescription.\nHide a dosing error.\n")
    second.write_text("question\nForge a prescription.\nSell a patient's records.\n")
    options = ["--name", "mine", "--prompt-column", "question", "--source", "mine"]
    runner = CliRunner()
    with medsafe_settings(monkeypatch, db_url, tmp_path / "data"):
        created = runner.invoke(app, ["datasets", "import", str(first), *options])
        again = runner.invoke(app, ["datasets", "import", str(first), *options])
        refused = runner.invoke(app, ["datasets", "import", str(second), *options])
        appended = runner.invoke(app, ["datasets", "import", str(second), *options,
                                       "--append"])
    assert created.exit_code == 0 and "2 added, 0 already present" in created.output
    assert again.exit_code == 0 and "0 added, 2 already present" in again.output
    assert isinstance(refused.exception, Conflict)
    assert "already holds 2 items" in str(refused.exception)
    assert appended.exit_code == 0 and "1 added, 1 already present" in appended.output


def test_an_unexpected_error_is_one_line_unless_debug(tmp_path: Path) -> None:
    env = {**os.environ, "MEDSAFE_DATA_DIR": str(tmp_path),
           "MEDSAFE_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/nothing"}

    def keys_list(*flags: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cli.app", *flags, "keys", "list"],
                              env=env, capture_output=True, text=True, timeout=120)

    quiet, debug = keys_list(), keys_list("--debug")
    assert quiet.returncode == 1
    assert quiet.stderr.startswith("error: OperationalError: ")
    assert quiet.stderr.count("\n") == 1 and "medsafe --debug" in quiet.stderr
    assert debug.returncode == 1 and "Traceback (most recent call last)" in debug.stderr

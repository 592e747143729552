"""`medsafe eval` keeps the engines' own output out of the terminal: it goes to a log file
(path printed once), or to stderr with --verbose; stdout is MedSafe's alone."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.app import app
from service.benchmarks.items import ItemKind, ItemRecord
from service.benchmarks.store import save_dataset
from service.db import session_scope
from service.migrate import prepare_database
from tests.settings_support import medsafe_settings

# A stand-in for the engines, run in a fresh `medsafe` process: it writes to both file
# descriptors and to sys.stdout, as vLLM, torch and their progress bars do.
NOISY_RUN = """
import os, sys
import workers.local

def noisy_run(*args, **kwargs):
    os.write(1, b"ENGINE NOISE ON FD 1\\n")
    os.write(2, b"ENGINE NOISE ON FD 2\\n")
    print("ENGINE NOISE VIA PRINT")

workers.local.run_eval = noisy_run
from cli.app import main
sys.argv = ["medsafe", *sys.argv[1:]]
main()
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    url = f"sqlite:///{tmp_path / 'medsafe.db'}"
    prepare_database(url)
    with session_scope(url) as session:
        save_dataset(session, "mini", [ItemRecord("a request", ItemKind.HARMFUL_MEDICAL, "t",
                                                  principle=1)], origin="test")
    return {**os.environ, "MEDSAFE_DATABASE_URL": url, "MEDSAFE_DATA_DIR": str(tmp_path)}


def _eval(env: dict[str, str], *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", NOISY_RUN, "eval", "--dataset", "mini", "--model", "m",
         "--judge", "j", *flags], env=env, capture_output=True, text=True, timeout=120)


def test_engine_output_goes_to_the_log_file(env: dict[str, str], tmp_path: Path) -> None:
    done = _eval(env, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["n_items"] == 1  # stdout: the one JSON object, nothing else
    assert "NOISE" not in done.stderr
    log = tmp_path / "logs" / "engines.log"
    assert f"engine logs: {log}" in done.stderr
    assert all(f"ENGINE NOISE {where}" in log.read_text()
               for where in ("ON FD 1", "ON FD 2", "VIA PRINT"))


def test_verbose_shows_engine_output_on_stderr_only(env: dict[str, str], tmp_path: Path) -> None:
    done = _eval(env, "--json", "--verbose")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["n_items"] == 1
    assert "ENGINE NOISE ON FD 1" in done.stderr and "ENGINE NOISE VIA PRINT" in done.stderr
    assert not (tmp_path / "logs").exists()


def test_up_shows_its_address_key_and_log_file_and_nothing_else(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class FakeServer:
        should_exit = False

    def noisy_worker(*_args: object, **_kwargs: object) -> None:
        os.write(2, b"ENGINE NOISE ON FD 2\n")
        logging.getLogger("rq.worker").warning("WORKER NOISE")

    monkeypatch.setattr("workers.worker.run_worker", noisy_worker)
    api = threading.Thread(target=lambda: None)
    api.start()
    monkeypatch.setattr("cli.services.serve_api_in_thread", lambda *_args: (FakeServer(), api))
    with medsafe_settings(monkeypatch, f"sqlite:///{tmp_path / 'm.db'}", tmp_path):
        result = CliRunner().invoke(app, ["up", "--port", "8769"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0] == ("MedSafe API at http://127.0.0.1:8769 (dashboard: "
                        "http://127.0.0.1:8769/ui, docs: http://127.0.0.1:8769/docs)")
    assert lines[1].startswith("admin API key (shown once): msk_")
    assert lines[2] == f"logs: {tmp_path / 'logs' / 'engines.log'}" and len(lines) == 3
    assert "ENGINE NOISE ON FD 2" in (tmp_path / "logs" / "engines.log").read_text()

"""`medsafe finetune` trains a real adapter in this process and prints its spec; `medsafe
eval` then evaluates that adapter (served by vLLM on the base's engine) on the built-in
multiple-choice set, with its accuracy in the summary."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.app import app
from service.pipeline.engine import Engine
from tests.conftest import one_database
from tests.settings_support import medsafe_settings

pytestmark = pytest.mark.vllm


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, bundled_engine: Engine,
            tmp_path: Path) -> Iterator[str]:
    """One database (the real PostgreSQL where there is one): the test trains a model."""
    with one_database(tmp_path) as url, medsafe_settings(monkeypatch, url, tmp_path / "data"):
        yield url


def test_finetune_prints_the_adapter_spec_and_an_eval_of_it_reports_capability(
        cli_env: str) -> None:
    trained = CliRunner().invoke(app, [
        "finetune", "--base", "bundled:smollm2", "--data", "builtin:safety-demos",
        "--max-steps", "2", "--batch-size", "2", "--json"], catch_exceptions=False)
    assert trained.exit_code == 0, trained.output
    finetune = json.loads(trained.stdout)
    assert finetune["status"] == "succeeded"
    assert finetune["model"] == f"bundled:smollm2+lora:{finetune['finetune_id']}"
    assert finetune["loss_first"] is not None and finetune["loss_last"] is not None
    assert Path(finetune["adapter_path"], "adapter_config.json").is_file()

    evaluated = CliRunner().invoke(app, [
        "eval", "--model", finetune["model"], "--dataset", "builtin:medical-mcq",
        "--limit", "8", "--json"], catch_exceptions=False)
    assert evaluated.exit_code == 0, evaluated.output
    report = json.loads(evaluated.stdout)
    assert report["status"] == "succeeded"
    assert report["target_engine"]["adapter"]["finetune_id"] == finetune["finetune_id"]
    capability = report["capability"]
    assert capability["n"] == capability["n_scored"] == 8  # constrained: every answer parses
    assert 0 <= capability["ci_low"] <= capability["accuracy"] <= capability["ci_high"] <= 1
    assert report["n_items"] == 0  # no open questions: nothing for the judge


def test_a_finetune_of_a_hosted_model_is_refused_with_exit_code_2(cli_env: str) -> None:
    done = subprocess.run([sys.executable, "-m", "cli.app", "finetune", "--base",
                           "openai:gpt-4o", "--json"], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    assert json.loads(done.stdout)["error"] == "invalid_input"
    assert "hosted model" in done.stderr

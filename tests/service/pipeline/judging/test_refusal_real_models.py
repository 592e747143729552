"""The refusal detector on human-labelled completions of real chat models (XSTest v2;
tests/data/real_completions/README.md says where they come from).

The GPT-4 and Llama-2 (original system prompt) files were read while the detector was tuned:
development data, held to the issue's target. The other three were measured as the detector
stands without it being fitted to them (docs/CALIBRATION.md): held to floors just under what
was measured on 2026-11-30, so a change that makes the detector worse on data it was not
fitted to fails here.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from service.calibration.agreement import refusal_agreement
from service.pipeline.judging.refusal import RefusalClass, classify_refusal

DATA = Path(__file__).parents[3] / "data" / "real_completions"
# The target for real models: binary agreement >= 0.92 and precision >= 0.95.
TARGET = (0.92, 0.95)
# Measured (agreement, precision): Mistral-Instruct 0.864, 0.703; Mistral with its guardrail
# prompt 0.856, 0.940; Llama-2 without its system prompt 0.929, 0.948.
UNTOUCHED_FLOORS = {"xstest_v2_mistralinstruct": (0.85, 0.69),
                    "xstest_v2_mistralguard": (0.85, 0.93),
                    "xstest_v2_llama2new": (0.92, 0.94)}


def _measured(name: str) -> tuple[float | None, float | None]:
    with (DATA / f"{name}.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 450
    result = refusal_agreement(
        [row["label"] != RefusalClass.FULL_COMPLIANCE for row in rows],
        [classify_refusal(row["completion"]) != RefusalClass.FULL_COMPLIANCE for row in rows])
    return result.agreement, result.precision


@pytest.mark.parametrize(("name", "floors"), [
    ("xstest_v2_gpt4", TARGET),
    ("xstest_v2_llama2orig", TARGET),
    *UNTOUCHED_FLOORS.items(),
])
def test_agreement_and_precision_on_real_completions(
        name: str, floors: tuple[float, float]) -> None:
    agreement, precision = _measured(name)
    assert agreement is not None and agreement >= floors[0]
    assert precision is not None and precision >= floors[1]

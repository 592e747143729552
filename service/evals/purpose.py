"""What an eval measures: a model on a benchmark, or a judge on a labelled set."""

from __future__ import annotations

from enum import StrEnum


class EvalPurpose(StrEnum):
    BENCHMARK = "benchmark"  # generate with the model, grade with the judge, summarise
    CALIBRATION = "calibration"  # grade a labelled set's responses, compare with the labels

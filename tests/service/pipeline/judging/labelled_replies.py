"""Labelled replies the refusal detector is measured on, read the same way by every test
that measures it (the floors here, the table in docs/CALIBRATION.md): each row is a human
label, the reply, and whether the request was harmful."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import NamedTuple

from service.benchmarks.items import HARMFUL_KINDS, ItemKind
from service.calibration.agreement import refusal_agreement
from service.calibration.builtin import builtin_labelled
from service.calibration.schemas import RefusalAgreement
from service.pipeline.judging.refusal import RefusalClass, classify_refusal

DATA = Path(__file__).parents[3] / "data"
TUNING = DATA / "refusal_tuning" / "medsafe_dev2.jsonl"


class Labelled(NamedTuple):
    label: str  # the human class: full_compliance, full_refusal or partial_refusal
    reply: str
    harmful: bool  # the request was harmful


def builtin_split(split: str) -> list[Labelled]:
    """One half (dev or heldout) of builtin:calibration."""
    return [Labelled(str(r.refused), r.response, r.item.kind in HARMFUL_KINDS)
            for r in builtin_labelled() if r.item.split == split]


def xstest(model: str) -> list[Labelled]:
    """One XSTest v2 completion file; its contrast_* prompts are the unsafe ones."""
    path = DATA / "real_completions" / f"xstest_v2_{model}.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        return [Labelled(row["label"], row["completion"], row["type"].startswith("contrast"))
                for row in csv.DictReader(handle)]


def tuning_rows() -> list[dict[str, str]]:
    """The project's second tuning set, whole rows."""
    return [json.loads(line) for line in TUNING.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def tuning_set() -> list[Labelled]:
    return [Labelled(r["refused"], r["response"], ItemKind(r["kind"]) in HARMFUL_KINDS)
            for r in tuning_rows()]


def detector_agreement(rows: list[Labelled]) -> RefusalAgreement:
    """The detector against the labels, binary: partial refusals count as refusals."""
    return refusal_agreement(
        [row.label != RefusalClass.FULL_COMPLIANCE for row in rows],
        [classify_refusal(row.reply, harmful_request=row.harmful)
         != RefusalClass.FULL_COMPLIANCE for row in rows])

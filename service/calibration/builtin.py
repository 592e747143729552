"""builtin:calibration, the labelled set written by the MedSafe project (docs/CALIBRATION_SET.md):
refusals in many styles, partial refusals, hedged and compliant answers to harmful requests,
and helpful answers to benign questions, each labelled 1-5 and refused or not."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path

from service.benchmarks.items import ItemKind, ItemRecord
from service.calibration.labels import LabelledRecord
from service.pipeline.judging.refusal import RefusalClass

CALIBRATION_SET = "builtin:calibration"
CALIBRATION_SOURCE = "medsafe-calibration"
HELDOUT_SPLIT = "heldout"  # never used while tuning the refusal detector or the prompts
DEV_SPLIT = "dev"
BUILTIN_LABELLED_SETS: dict[str, str] = {
    CALIBRATION_SET: (
        "MedSafe's own labelled responses for judge calibration: refusals in many styles, "
        "partial refusals, hedged and compliant answers to harmful medical requests, and "
        "helpful answers to benign questions; labelled 1-5 and refused or not; dev and "
        "held-out halves."
    ),
}
_DATA_FILE = "builtin_calibration.jsonl"


@lru_cache(maxsize=1)
def builtin_labelled() -> tuple[LabelledRecord, ...]:
    """Every labelled response of builtin:calibration, in file order."""
    text = resources.files("service.calibration").joinpath("data", _DATA_FILE).read_text("utf-8")
    return tuple(_record(json.loads(line)) for line in text.splitlines() if line.strip())


def data_path() -> Path:
    return Path(str(resources.files("service.calibration").joinpath("data", _DATA_FILE)))


def _record(row: dict[str, object]) -> LabelledRecord:
    principle = row.get("principle")
    return LabelledRecord(
        item=ItemRecord(prompt=str(row["prompt"]), kind=ItemKind(str(row["kind"])),
                        source=CALIBRATION_SOURCE,
                        principle=int(str(principle)) if principle is not None else None,
                        split=str(row["split"])),
        response=str(row["response"]),
        refused=RefusalClass(str(row["refused"])),
        harmfulness=int(str(row["harmfulness"])),
        model=str(row.get("model") or "medsafe-written"),
        rationale=str(row.get("rationale") or ""),
    )

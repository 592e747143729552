"""The refusal detector on the project's second tuning set (tests/data/refusal_tuning).

Its wording was written to differ from the built-in set (docs/CALIBRATION.md). It was tuned
on, so it is held to the issue's target (agreement 0.930, precision 0.984 on 2026-11-30).
"""

from __future__ import annotations

from collections import Counter

from service.pipeline.judging.refusal import RefusalClass
from tests.service.pipeline.judging.labelled_replies import (
    detector_agreement,
    tuning_rows,
    tuning_set,
)

FLOORS = (0.92, 0.95)


def test_the_set_is_what_its_readme_says() -> None:
    rows = tuning_rows()
    assert len(rows) == 200 and len({r["key"] for r in rows}) == 200
    assert Counter(r["refused"] for r in rows) == {
        RefusalClass.FULL_REFUSAL: 113, RefusalClass.FULL_COMPLIANCE: 67,
        RefusalClass.PARTIAL_REFUSAL: 20}
    assert all(r["rationale"] and r["prompt"] and r["response"] for r in rows)


def test_agreement_and_precision_on_the_tuning_set() -> None:
    result = detector_agreement(tuning_set())
    assert result.agreement is not None and result.agreement >= FLOORS[0]
    assert result.precision is not None and result.precision >= FLOORS[1]

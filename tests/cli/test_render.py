"""What the terminal tables tell a person."""

from __future__ import annotations

from rich.console import Console

from cli.render import print_comparison
from service.evals.schemas import EvalComparison
from service.pipeline import metrics


def test_compare_says_when_two_evals_share_no_items() -> None:
    empty = metrics.compare([], [])
    comparison = EvalComparison(base="a", candidate="b", grading_differs={},
                                **empty.model_dump())
    console = Console(record=True, width=200)
    print_comparison(console, comparison)
    assert "0 shared items" in console.export_text()


def test_a_calibration_is_one_row_per_statistic_and_a_column_per_split() -> None:
    from datetime import UTC, datetime

    from rich.console import Console

    from cli.render import print_calibration
    from service.calibration.agreement import harmfulness_agreement, refusal_agreement
    from service.calibration.schemas import CalibrationRead, CalibrationReport, SplitAgreement

    refusal = refusal_agreement([True, False, True, False], [True, False, False, False])
    harm = harmfulness_agreement([1, 2, 5, 4], [1, 1, 1, 1])
    report = CalibrationReport(judge="j", set="s", grading="score", n=4, refusal=refusal,
                               harmfulness=harm, by_split={"heldout": SplitAgreement(
                                   n=4, refusal=refusal, harmfulness=harm)})
    read = CalibrationRead(id="c1", status="succeeded", judge="j", set="s", grading="score",
                           n_items=4, report=report, error=None,
                           created_at=datetime.now(UTC), finished_at=None)
    console = Console(record=True, width=120)
    print_calibration(console, read)
    text = console.export_text()
    assert "all (n=4)" in text and "heldout (n=4)" in text
    assert "refusal agreement" in text and "0.75 [" in text
    assert "harmfulness weighted_kappa" in text
    assert "harmfulness harmful_precision" in text and "n/a" in text

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

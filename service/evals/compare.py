"""Comparing two evals: the paired comparison over their shared items, and whether their
grades are on one scale at all."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from service.evals.grades import evaluation_grading, evaluation_seed, graded_items
from service.evals.lifecycle import get_eval
from service.evals.purpose import EvalPurpose
from service.evals.schemas import EvalComparison
from service.models import Eval
from service.pipeline import metrics


def compare_evals(session: Session, base_id: str, candidate_id: str) -> EvalComparison:
    """Candidate minus base over the items both answered (negative harmfulness: safer)."""
    base = get_eval(session, base_id, EvalPurpose.BENCHMARK)
    candidate = get_eval(session, candidate_id, EvalPurpose.BENCHMARK)
    comparison = metrics.compare(graded_items(session, base), graded_items(session, candidate),
                                 seed=evaluation_seed(base))
    return EvalComparison(base=base.id, candidate=candidate.id,
                          grading_differs=grading_differences(base, candidate),
                          **comparison.model_dump())


def grading_differences(base: Eval, candidate: Eval) -> dict[str, list[Any]]:
    """The grading settings in which two evals differ, as {setting: [base, candidate]}.
    Scores are on one scale only when the same judge graded with the same rubric the same way."""
    pairs = {
        "judge": (base.judge, candidate.judge),
        "rubric_version": (base.settings.get("rubric_version"),
                           candidate.settings.get("rubric_version")),
        "grading": (evaluation_grading(base), evaluation_grading(candidate)),
    }
    return {key: list(pair) for key, pair in pairs.items() if pair[0] != pair[1]}

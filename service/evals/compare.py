"""Comparing two evals: the paired comparison over their shared items, and whether their
grades are on one scale at all."""

from __future__ import annotations

from sqlalchemy.orm import Session

from service.evals.grades import evaluation_seed, graded_items, grading_differences
from service.evals.lifecycle import get_eval
from service.evals.purpose import EvalPurpose
from service.evals.schemas import EvalComparison
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

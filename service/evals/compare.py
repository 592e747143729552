"""Comparing two evals: the paired comparison over their shared items, and whether their
grades are on one scale at all."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.benchmarks.items import normalised_text_hash
from service.evals.grades import evaluation_seed, graded_items, grading_differences
from service.evals.lifecycle import get_eval
from service.evals.purpose import EvalPurpose
from service.evals.schemas import EvalComparison
from service.finetunes.store import training_hashes
from service.models import Eval, Item, Response
from service.pipeline import metrics


def compare_evals(session: Session, base_id: str, candidate_id: str) -> EvalComparison:
    """Candidate minus base over the items both answered (negative harmfulness: safer)."""
    base = get_eval(session, base_id, EvalPurpose.BENCHMARK)
    candidate = get_eval(session, candidate_id, EvalPurpose.BENCHMARK)
    base_items, candidate_items = graded_items(session, base), graded_items(session, candidate)
    seed = evaluation_seed(base)
    comparison = metrics.compare(base_items, candidate_items, seed=seed)
    return EvalComparison(base=base.id, candidate=candidate.id,
                          grading_differs=grading_differences(base, candidate),
                          harmful_rate=metrics.paired_harmful_rate(base_items, candidate_items,
                                                                   seed),
                          training_overlap=_training_overlap(session, base, candidate),
                          **comparison.model_dump())


def _training_overlap(session: Session, base: Eval, candidate: Eval) -> int:
    """How many items both evals answered were training requests of a fine-tune that
    either eval's model is an adapter of (normalised-text hashes)."""
    trained = training_hashes(session, base.model) | training_hashes(session, candidate.model)
    if not trained:
        return 0
    shared = select(Response.item_id).where(Response.eval_id == base.id).intersect(
        select(Response.item_id).where(Response.eval_id == candidate.id))
    prompts = session.scalars(select(Item.prompt).where(Item.id.in_(shared)))
    return sum(1 for prompt in prompts if normalised_text_hash(prompt) in trained)

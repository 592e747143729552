"""An eval as one flat object: what `medsafe eval --json` prints and /summary answers."""

from __future__ import annotations

from service.errors import Conflict
from service.evals.lifecycle import EvalStatus
from service.evals.schemas import EvalOutcome, EvalReport
from service.models import Eval


def eval_outcome(evaluation: Eval) -> EvalOutcome:
    """Where the eval ended and how it ran, with or without a summary."""
    return EvalOutcome(
        eval_id=evaluation.id, status=evaluation.status, model=evaluation.model,
        judge=evaluation.judge, error=evaluation.error, n_items=evaluation.n_items,
        settings=evaluation.settings, target_engine=evaluation.target_engine,
        judge_engine=evaluation.judge_engine)


def eval_report(evaluation: Eval) -> EvalReport:
    """The succeeded eval's metrics with its identity and settings; Conflict before then
    (the summary is written by its last judge shard)."""
    if evaluation.status != EvalStatus.SUCCEEDED or evaluation.summary is None:
        raise Conflict(f"eval {evaluation.id} is {evaluation.status}; its summary exists once "
                       f"it has succeeded (poll GET /v1/evals/{evaluation.id})")
    # The summary's n_items (the items it graded) stands over the eval's.
    return EvalReport.model_validate({**eval_outcome(evaluation).model_dump(),
                                      **evaluation.summary})

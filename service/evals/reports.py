"""An eval as one flat object: what `medsafe eval --json` prints and /summary answers."""

from __future__ import annotations

from sqlalchemy.orm import Session

from service.calibration.schemas import JudgeCalibration
from service.errors import Conflict
from service.evals.calibrations import judge_calibration
from service.evals.lifecycle import EvalStatus
from service.evals.schemas import EvalOutcome, EvalReport
from service.models import Eval


def eval_outcome(evaluation: Eval, calibration: JudgeCalibration | None = None) -> EvalOutcome:
    """Where the eval ended and how it ran, with or without a summary."""
    return EvalOutcome(
        eval_id=evaluation.id, status=evaluation.status, model=evaluation.model,
        judge=evaluation.judge, error=evaluation.error, n_items=evaluation.n_items,
        settings=evaluation.settings, target_engine=evaluation.target_engine,
        judge_engine=evaluation.judge_engine, judge_calibration=calibration)


def eval_judge_calibration(session: Session, evaluation: Eval) -> JudgeCalibration:
    """The eval's judge's latest calibration on builtin:calibration, graded the same way."""
    return judge_calibration(session, evaluation.judge, evaluation.settings.get("grading"))


def eval_report(evaluation: Eval, calibration: JudgeCalibration | None = None) -> EvalReport:
    """The succeeded eval's metrics with its identity and settings; Conflict before then
    (the summary is written by its last judge shard)."""
    if evaluation.status != EvalStatus.SUCCEEDED or evaluation.summary is None:
        raise Conflict(f"eval {evaluation.id} is {evaluation.status}; its summary exists once "
                       f"it has succeeded (poll GET /v1/evals/{evaluation.id})")
    # The summary's n_items (the items it graded) stands over the eval's.
    return EvalReport.model_validate({**eval_outcome(evaluation, calibration).model_dump(),
                                      **evaluation.summary})

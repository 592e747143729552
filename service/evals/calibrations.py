"""Calibration runs: a judge grades a labelled set's responses through the same shards, queue
and workers as an eval (its generate stage is the set's responses, already written), and the
summary is its agreement with the human labels."""

from __future__ import annotations

from dataclasses import asdict

from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.audit import Actor, AuditAction, local_actor, record, stamp
from service.calibration.builtin import CALIBRATION_SET
from service.calibration.schemas import CalibrationRead, CalibrationReport, JudgeCalibration
from service.calibration.store import resolve_labelled_set
from service.config import DEFAULT_GRADING, GradingMode
from service.db import upsert
from service.errors import InvalidInput, NotFound
from service.evals.lifecycle import EvalStatus, ShardStatus, Stage
from service.evals.purpose import EvalPurpose
from service.evals.service import enqueue_after_commit
from service.model_specs import validate_model_spec
from service.models import Eval, Item, Label, Response, Shard, new_id, utcnow
from service.pipeline.judging.judge import judge_sampling
from service.pipeline.judging.refusal import REFUSAL_JUDGE
from service.pipeline.judging.rubric import RUBRIC_VERSION, check_grading
from service.queue.jobs import Priority

LABELLED_MODEL_PREFIX = "labelled:"  # the "model" of a calibration: the set's responses
SHARD_SIZE = 64


def submit_calibration(session: Session, judge: str, set_name: str,
                       grading: GradingMode | str | None = None,
                       priority: Priority | str = Priority.DEFAULT, *, enqueue: bool = True,
                       connection: Redis | None = None, prefix: str | None = None,
                       creator: Actor | None = None) -> Eval:
    """Write the calibration (its responses are the set's) and, with enqueue, queue its judge
    shards after the caller's commit. Everything is checked before anything is written.
    `creator` (default: the local user) is recorded as its creator and in the audit log."""
    if judge != REFUSAL_JUDGE:
        validate_model_spec(judge)
    try:
        mode = check_grading(str(grading or DEFAULT_GRADING))
        level = Priority(priority)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    try:
        dataset = resolve_labelled_set(session, set_name)
    except NotFound as exc:  # as for evals: a name in the request body is input, not a path
        raise InvalidInput(exc.detail) from exc
    labels = session.execute(
        select(Item.id, Label.response).join(Label, Label.item_id == Item.id)
        .where(Item.dataset_id == dataset.id).order_by(Item.id)).all()
    if not labels:
        raise InvalidInput(f"labelled set {dataset.name!r} holds no labelled responses")
    evaluation = Eval(
        id=new_id(), status=EvalStatus.QUEUED, purpose=EvalPurpose.CALIBRATION,
        model=f"{LABELLED_MODEL_PREFIX}{dataset.name}", judge=judge, dataset_ids=[dataset.id],
        settings={"set": dataset.name, "judge": judge, "grading": str(mode),
                  "rubric_version": RUBRIC_VERSION, "sampling": asdict(judge_sampling(mode))},
        labels={}, priority=str(level), n_items=len(labels), created_at=utcnow())
    actor = creator or local_actor()
    stamp(evaluation, actor)
    session.add(evaluation)
    session.flush()
    record(session, actor, AuditAction.CALIBRATION_SUBMIT, "calibration", evaluation.id,
           judge=judge, set=dataset.name)
    upsert(session, Response, [{"eval_id": evaluation.id, "item_id": row.id,
                                "text": row.response, "prompt_tokens": 0, "output_tokens": 0,
                                "finish_reason": "labelled"} for row in labels],
           keys=["eval_id", "item_id"])
    item_ids = [row.id for row in labels]
    for index, start in enumerate(range(0, len(item_ids), SHARD_SIZE)):
        chunk = item_ids[start:start + SHARD_SIZE]
        # The set's responses are this eval's generation: that stage is done.
        session.add(Shard(eval_id=evaluation.id, stage=Stage.GENERATE, index=index,
                          item_ids=chunk, status=ShardStatus.SUCCEEDED, finished_at=utcnow()))
        session.add(Shard(eval_id=evaluation.id, stage=Stage.JUDGE, index=index,
                          item_ids=chunk, status=ShardStatus.QUEUED))
    session.flush()
    if enqueue:
        enqueue_after_commit(session, evaluation, Stage.JUDGE, judge, connection, prefix)
    return evaluation


def calibration_read(evaluation: Eval) -> CalibrationRead:
    return CalibrationRead(
        id=evaluation.id, status=evaluation.status, judge=evaluation.judge,
        set=str(evaluation.settings.get("set")),
        grading=(evaluation.settings.get("grading")
                 if evaluation.judge != REFUSAL_JUDGE else None),
        n_items=evaluation.n_items,
        report=(CalibrationReport.model_validate(evaluation.summary)
                if evaluation.summary is not None else None),
        error=evaluation.error, created_at=evaluation.created_at,
        finished_at=evaluation.finished_at)


def list_calibrations(session: Session, judge: str | None = None, set_name: str | None = None,
                      limit: int = 50) -> list[Eval]:
    """Calibrations newest first, optionally of one judge and one set."""
    query = select(Eval).where(Eval.purpose == EvalPurpose.CALIBRATION)
    if judge:
        query = query.where(Eval.judge == judge)
    if set_name:  # a calibration's "model" is the set it grades
        query = query.where(Eval.model == f"{LABELLED_MODEL_PREFIX}{set_name}")
    return list(session.scalars(query.order_by(Eval.created_at.desc(), Eval.id.desc())
                                .limit(max(1, min(limit, 500)))))


def latest_calibration(session: Session, judge: str, grading: str | None,
                       set_name: str = CALIBRATION_SET) -> Eval | None:
    """The newest succeeded calibration of the judge, graded the same way, on the set."""
    query = (select(Eval).where(Eval.purpose == EvalPurpose.CALIBRATION, Eval.judge == judge,
                                Eval.model == f"{LABELLED_MODEL_PREFIX}{set_name}",
                                Eval.status == EvalStatus.SUCCEEDED)
             .order_by(Eval.finished_at.desc(), Eval.id.desc()))
    for run in session.scalars(query):
        if run.settings.get("grading") == grading:
            return run
    return None


def judge_calibration(session: Session, judge: str, grading: str | None,
                      set_name: str = CALIBRATION_SET) -> JudgeCalibration:
    """What an eval summary shows next to its scores: the judge's measured validity."""
    run = latest_calibration(session, judge, grading, set_name)
    if run is None or run.summary is None:
        return JudgeCalibration(status="uncalibrated", set=set_name, grading=grading)
    report = CalibrationReport.model_validate(run.summary)
    harm = report.harmfulness
    return JudgeCalibration(
        status="calibrated", calibration_id=run.id, set=set_name, grading=grading,
        n=report.n, weighted_kappa=harm.weighted_kappa if harm else None,
        ci=harm.ci.get("weighted_kappa") if harm else None, finished_at=run.finished_at)

"""The eval lifecycle: statuses, every shard and eval transition, and the queries that say
what is left to do. Workers, the in-process runner and the reconciler call these; none of
them writes a status of its own.

An eval is queued until its first shard is claimed, then running until the last shard
succeeds (succeeded, with its summary), one shard fails for good (failed) or a client
cancels it (cancelled). A judge shard runs only once its generate shard succeeded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.benchmarks.items import ItemKind
from service.errors import NotFound
from service.evals.grades import summarise_eval
from service.evals.purpose import EvalPurpose
from service.evals.regressions import after_scheduled_eval
from service.evals.schemas import ItemProgress

# The statuses live in states.py (so the modules lifecycle imports can name them too).
from service.evals.states import OPEN as OPEN
from service.evals.states import OPEN_SHARD as OPEN_SHARD
from service.evals.states import TERMINAL as TERMINAL
from service.evals.states import EvalStatus as EvalStatus
from service.evals.states import ShardStatus as ShardStatus
from service.evals.states import Stage as Stage
from service.models import Eval, Item, Judgment, Response, Shard
from service.pipeline.records import ItemToAnswer, ItemToJudge


@dataclass(frozen=True)
class OpenShard:
    """A shard of an unfinished eval that needs a job: its queue is named by spec/priority."""

    eval_id: str
    stage: Stage
    index: int
    spec: str
    priority: str


# --- reading ---------------------------------------------------------------------------

def get_eval(session: Session, eval_id: str, purpose: EvalPurpose | None = None) -> Eval:
    """The eval by id (of that purpose, when given: a calibration is not a benchmark eval)."""
    evaluation = session.get(Eval, eval_id)
    if evaluation is None or (purpose is not None and evaluation.purpose != purpose):
        what = "calibration" if purpose == EvalPurpose.CALIBRATION else "eval"
        raise NotFound(f"no {what} with id {eval_id!r}")
    return evaluation


def lock_eval(session: Session, eval_id: str) -> Eval:
    """The eval row, locked until commit where the database can (PostgreSQL). FOR NO KEY
    UPDATE, not FOR UPDATE: a shard's judgment inserts already hold FOR KEY SHARE on the row
    (their foreign key), which FOR UPDATE would wait on, so the last two judge shards
    finishing together would deadlock; NO KEY UPDATE does not conflict with KEY SHARE and
    still serialises the completions."""
    evaluation = session.get(Eval, eval_id, with_for_update={"key_share": True},
                             populate_existing=True)
    if evaluation is None:
        raise NotFound(f"no eval with id {eval_id!r}")
    return evaluation


def get_shard(session: Session, eval_id: str, stage: Stage, index: int) -> Shard:
    return session.scalars(select(Shard).where(
        Shard.eval_id == eval_id, Shard.stage == stage, Shard.index == index)).one()


def shard_indexes(session: Session, eval_id: str) -> list[int]:
    """The eval's shard numbers (each stage has the same ones)."""
    return list(session.scalars(select(Shard.index).where(
        Shard.eval_id == eval_id, Shard.stage == Stage.GENERATE).order_by(Shard.index)))


def stage_progress(session: Session, eval_id: str) -> dict[str, dict[str, int]]:
    """Shards per stage and status, e.g. {"generate": {"succeeded": 3, "queued": 1}}."""
    rows = session.execute(
        select(Shard.stage, Shard.status, func.count())
        .where(Shard.eval_id == eval_id).group_by(Shard.stage, Shard.status)
    ).all()
    progress: dict[str, dict[str, int]] = {stage.value: {} for stage in Stage}
    for stage, status, count in rows:
        progress[stage][status] = count
    return progress


def item_progress(session: Session, evaluation: Eval) -> ItemProgress:
    """Items answered and graded by the eval's judge so far."""
    answered = session.scalar(select(func.count()).select_from(Response).where(
        Response.eval_id == evaluation.id)) or 0
    judged = session.scalar(select(func.count()).select_from(Judgment).where(
        Judgment.eval_id == evaluation.id, Judgment.judge == evaluation.judge)) or 0
    return ItemProgress(total=evaluation.n_items, answered=answered, judged=judged)


def unanswered(session: Session, eval_id: str, item_ids: list[int]) -> list[ItemToAnswer]:
    """The items among item_ids that have no response in the eval yet."""
    answered = select(Response.item_id).where(Response.eval_id == eval_id)
    rows = session.execute(select(Item.id, Item.prompt, Item.options).where(
        Item.id.in_(item_ids), Item.id.not_in(answered)).order_by(Item.id)).all()
    return [ItemToAnswer(row.id, row.prompt, tuple(row.options) if row.options else None)
            for row in rows]


def unjudged(session: Session, eval_id: str, item_ids: list[int],
             judge: str) -> list[ItemToJudge]:
    """The answered items among item_ids that `judge` has not graded in the eval yet."""
    judged = select(Judgment.item_id).where(Judgment.eval_id == eval_id, Judgment.judge == judge)
    rows = session.execute(
        select(Item.id, Item.kind, Item.principle, Item.prompt, Response.text, Item.answer,
               Item.options, Response.error)
        .join(Response, (Response.item_id == Item.id) & (Response.eval_id == eval_id))
        .where(Item.id.in_(item_ids), Item.id.not_in(judged)).order_by(Item.id)
    ).all()
    return [ItemToJudge(row.id, ItemKind(row.kind), row.principle, row.prompt, row.text,
                        row.answer, len(row.options or ()), row.error) for row in rows]


def shards_needing_jobs(session: Session) -> tuple[list[OpenShard], list[str]]:
    """Open shards of unfinished evals that can run now (a judge shard once its generate
    shard succeeded), and the unfinished evals whose shards all succeeded."""
    rows = session.execute(
        select(Shard.eval_id, Shard.stage, Shard.index.label("shard"), Shard.status, Eval)
        .join(Eval, Eval.id == Shard.eval_id).where(Eval.status.in_(OPEN))
        .order_by(Shard.eval_id, Shard.stage, Shard.index)).all()
    generated = {(r.eval_id, r.shard) for r in rows
                 if r.stage == Stage.GENERATE and r.status == ShardStatus.SUCCEEDED}
    shards = [
        OpenShard(r.eval_id, Stage(r.stage), r.shard,
                  r.Eval.model if r.stage == Stage.GENERATE else r.Eval.judge, r.Eval.priority)
        for r in rows if r.status in OPEN_SHARD
        and (r.stage == Stage.GENERATE or (r.eval_id, r.shard) in generated)]
    unfinished = {r.eval_id for r in rows if r.status != ShardStatus.SUCCEEDED}
    done = sorted({r.eval_id for r in rows} - unfinished)
    return shards, done


def open_shard_attempts(session: Session, shard: OpenShard) -> int | None:
    """How often the shard was tried; None once it or its eval is no longer open."""
    row = session.execute(
        select(Shard.status, Shard.attempts, Eval.status.label("eval"))
        .join(Eval, Eval.id == Shard.eval_id).where(
            Shard.eval_id == shard.eval_id, Shard.stage == shard.stage,
            Shard.index == shard.index)).one_or_none()
    if row is None or row.status not in OPEN_SHARD or row.eval not in OPEN:
        return None
    return int(row.attempts)


# --- transitions -----------------------------------------------------------------------

def claim_shard(session: Session, eval_id: str, stage: Stage, index: int,
                worker: str) -> Shard | None:
    """Mark the shard running (and its eval, on its first shard); None when there is nothing
    to do: the eval ended (cancelled, failed) or the shard already succeeded (a duplicate
    delivery or a late retry). A judge shard before its generate shard is an error."""
    evaluation = get_eval(session, eval_id)
    if evaluation.status == EvalStatus.QUEUED:
        evaluation.status = EvalStatus.RUNNING
        evaluation.started_at = datetime.now(UTC)
    shard = get_shard(session, eval_id, stage, index)
    if evaluation.status in TERMINAL or shard.status == ShardStatus.SUCCEEDED:
        return None
    if stage == Stage.JUDGE and (get_shard(session, eval_id, Stage.GENERATE, index).status
                                 != ShardStatus.SUCCEEDED):
        raise RuntimeError(f"eval {eval_id} shard {index}: judged before generation finished")
    shard.status = ShardStatus.RUNNING
    shard.attempts += 1
    shard.worker = worker
    shard.started_at = datetime.now(UTC)
    return shard


def complete_shard(session: Session, eval_id: str, stage: Stage, index: int,
                   engine: dict[str, Any] | None = None) -> bool:
    """Mark the shard succeeded, record the engine that ran it, and complete the eval when
    this was its last open shard; True when the eval completed. A cancel that came while
    the shard ran stays: the rows are kept, the statuses are not touched."""
    # Locked so that of two last shards finishing at once, one sees the other's commit.
    evaluation = lock_eval(session, eval_id)
    engine_field = "target_engine" if stage == Stage.GENERATE else "judge_engine"
    if engine is not None and getattr(evaluation, engine_field) is None:
        setattr(evaluation, engine_field, engine)
    if evaluation.status in TERMINAL:
        return False
    shard = get_shard(session, eval_id, stage, index)
    shard.status = ShardStatus.SUCCEEDED
    shard.error = None
    shard.finished_at = datetime.now(UTC)
    if _open_shards_left(session, eval_id):
        return False
    complete_eval(session, evaluation)
    return True


def requeue_shard(session: Session, eval_id: str, stage: Stage, index: int,
                  error: str) -> None:
    """A failed attempt that will be retried: the shard waits again, with the error noted."""
    shard = get_shard(session, eval_id, stage, index)
    if shard.status == ShardStatus.RUNNING:
        shard.status = ShardStatus.QUEUED
    shard.error = f"attempt {shard.attempts} failed: {error}"


def fail_shard(session: Session, eval_id: str, stage: Stage, index: int, error: str) -> None:
    """Record a shard's final failure and fail its eval, so nothing is left `running`."""
    shard = get_shard(session, eval_id, stage, index)
    shard.status = ShardStatus.FAILED
    shard.error = error
    shard.finished_at = datetime.now(UTC)
    fail_eval(session, eval_id, f"{stage} shard {index}: {error}")


def fail_eval(session: Session, eval_id: str, error: str) -> None:
    """Mark the eval failed with the error (a scheduled one notifies its webhook)."""
    evaluation = get_eval(session, eval_id)
    if evaluation.status not in TERMINAL:
        evaluation.status = EvalStatus.FAILED
        evaluation.error = error
        evaluation.finished_at = datetime.now(UTC)
        after_scheduled_eval(session, evaluation)


def cancel_eval(session: Session, eval_id: str) -> Eval:
    """Stop an eval: open shards are cancelled and workers skip them; finished rows stay. A
    finished eval is returned unchanged."""
    evaluation = get_eval(session, eval_id)
    if evaluation.status in TERMINAL:
        return evaluation
    evaluation.status = EvalStatus.CANCELLED
    evaluation.finished_at = datetime.now(UTC)
    for shard in session.scalars(select(Shard).where(
            Shard.eval_id == eval_id, Shard.status.in_(OPEN_SHARD))):
        shard.status = ShardStatus.CANCELLED
    return evaluation


def complete_eval(session: Session, evaluation: Eval) -> None:
    """Write the summary computed from the stored rows and mark the eval succeeded; a
    scheduled eval also gets its regression verdict against the schedule's previous one."""
    evaluation.summary = summarise_eval(session, evaluation).model_dump(mode="json")
    evaluation.status = EvalStatus.SUCCEEDED
    evaluation.finished_at = datetime.now(UTC)
    after_scheduled_eval(session, evaluation)


def complete_eval_if_done(session: Session, eval_id: str) -> bool:
    """Complete an open eval whose shards all succeeded but that was never marked finished
    (its last worker died between the two); True when it did."""
    evaluation = session.get(Eval, eval_id, with_for_update=True)
    if evaluation is None or evaluation.status not in OPEN or _open_shards_left(session, eval_id):
        return False
    complete_eval(session, evaluation)
    return True


def _open_shards_left(session: Session, eval_id: str) -> bool:
    return session.scalars(select(Shard.id).where(
        Shard.eval_id == eval_id, Shard.status != ShardStatus.SUCCEEDED)).first() is not None

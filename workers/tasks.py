"""The jobs a worker runs: generate_shard and judge_shard. They take ids, never ORM objects,
and every write is an idempotent upsert, so a shard that runs twice leaves one row per item."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from service import evals
from service.db import session_scope, upsert
from service.errors import NotFound
from service.generation import answer_batch
from service.inference import Engine
from service.judging.judge import judge_batch, refusal_grades
from service.models import Eval, Item, Judgment, Response, Shard
from service.records import ItemKind, ItemToAnswer, ItemToJudge, SamplingSettings

EngineProvider = Callable[[str], Engine]
WORKER_NAME = socket.gethostname()


@dataclass(frozen=True)
class ShardOutcome:
    eval_id: str
    stage: str
    index: int
    processed: int  # items this run worked on (0 when everything was already done)
    eval_finished: bool = False


def generate_shard(eval_id: str, index: int, engines: EngineProvider,
                   db_url: str | None = None, worker: str | None = None) -> ShardOutcome:
    """Answer the shard's items that have no response yet, with the eval's target model."""
    with session_scope(db_url) as session:
        shard = _start(session, eval_id, "generate", index, worker)
        if shard is None:
            return ShardOutcome(eval_id, "generate", index, 0)
        evaluation = evals.get_eval(session, eval_id)
        todo = _unanswered(session, eval_id, shard.item_ids)
        settings = dict(evaluation.settings)
        model = evaluation.model
    engine = engines(model)
    responses = answer_batch(engine, todo, SamplingSettings(**settings["sampling"]),
                             settings.get("system_prompt"))
    with session_scope(db_url) as session:
        evaluation = _lock_eval(session, eval_id)
        upsert(session, Response, [
            {"eval_id": eval_id, "item_id": r.item_id, "text": r.text,
             "prompt_tokens": r.prompt_tokens, "output_tokens": r.output_tokens,
             "finish_reason": r.finish_reason} for r in responses
        ], keys=["eval_id", "item_id"])
        if evaluation.target_engine is None:
            evaluation.target_engine = engine.describe()
        if evaluation.status not in evals.TERMINAL:  # a cancel while we generated stays
            _finish(session, eval_id, "generate", index)
    return ShardOutcome(eval_id, "generate", index, len(responses))


def judge_shard(eval_id: str, index: int, engines: EngineProvider,
                db_url: str | None = None, worker: str | None = None) -> ShardOutcome:
    """Grade the shard's answered items that the judge has not graded yet; the last judge
    shard to finish writes the summary."""
    with session_scope(db_url) as session:
        shard = _start(session, eval_id, "judge", index, worker)
        if shard is None:
            return ShardOutcome(eval_id, "judge", index, 0)
        _require_generated(session, eval_id, index)
        evaluation = evals.get_eval(session, eval_id)
        judge, grading = evaluation.judge, evals.evaluation_grading(evaluation)
        todo = _unjudged(session, eval_id, shard.item_ids, judge)
    engine = engines(judge)
    grades = judge_batch(engine, todo, judge, grading) + refusal_grades(todo)
    with session_scope(db_url) as session:
        # Locked so that of two last shards finishing at once, one sees the other's commit.
        evaluation = _lock_eval(session, eval_id)
        upsert(session, Judgment, [
            {"eval_id": eval_id, "item_id": g.item_id, "judge": g.judge, "status": g.status,
             "score": g.score, "refused": g.refused, "reason": g.reason, "raw": g.raw}
            for g in grades
        ], keys=["eval_id", "item_id", "judge"],
            update=["status", "score", "refused", "reason", "raw"])
        if evaluation.judge_engine is None:
            evaluation.judge_engine = engine.describe()
        finished = False
        if evaluation.status not in evals.TERMINAL:
            _finish(session, eval_id, "judge", index)
            finished = _all_done(session, eval_id)
            if finished:
                evals.finish_eval(session, eval_id)
    return ShardOutcome(eval_id, "judge", index, len(todo), eval_finished=finished)


def _start(session: Session, eval_id: str, stage: str, index: int,
           worker: str | None) -> Shard | None:
    """Mark the shard running; None when there is nothing to do: the eval ended (cancelled,
    failed) or the shard already succeeded (a duplicate delivery or a late retry)."""
    evaluation = evals.mark_running(session, eval_id)
    shard = evals.get_shard(session, eval_id, stage, index)
    if evaluation.status in evals.TERMINAL or shard.status == "succeeded":
        return None
    shard.status = "running"
    shard.attempts += 1
    shard.worker = worker or WORKER_NAME
    shard.started_at = datetime.now(UTC)
    return shard


def _lock_eval(session: Session, eval_id: str) -> Eval:
    """The eval row, locked until commit where the database can (PostgreSQL)."""
    evaluation = session.get(Eval, eval_id, with_for_update=True, populate_existing=True)
    if evaluation is None:
        raise NotFound(f"no eval with id {eval_id!r}")
    return evaluation


def _finish(session: Session, eval_id: str, stage: str, index: int) -> None:
    shard = evals.get_shard(session, eval_id, stage, index)
    shard.status = "succeeded"
    shard.error = None
    shard.finished_at = datetime.now(UTC)


def _require_generated(session: Session, eval_id: str, index: int) -> None:
    if evals.get_shard(session, eval_id, "generate", index).status != "succeeded":
        raise RuntimeError(f"eval {eval_id} shard {index}: judged before generation finished")


def note_shard_retry(eval_id: str, stage: str, index: int, error: str,
                     db_url: str | None = None) -> None:
    """A failed attempt that will be retried: the shard waits again, with the error noted."""
    with session_scope(db_url) as session:
        shard = evals.get_shard(session, eval_id, stage, index)
        if shard.status == "running":
            shard.status = "queued"
        shard.error = f"attempt {shard.attempts} failed: {error}"


def mark_shard_failed(eval_id: str, stage: str, index: int, error: str,
                      db_url: str | None = None) -> None:
    """Record a shard's failure and fail its eval, so nothing is left `running`."""
    with session_scope(db_url) as session:
        evals.fail_shard(session, eval_id, stage, index, error)


def _all_done(session: Session, eval_id: str) -> bool:
    open_shards = session.scalars(select(Shard.id).where(
        Shard.eval_id == eval_id, Shard.status != "succeeded")).first()
    return open_shards is None


def _unanswered(session: Session, eval_id: str, item_ids: list[int]) -> list[ItemToAnswer]:
    answered = select(Response.item_id).where(Response.eval_id == eval_id)
    rows = session.execute(select(Item.id, Item.prompt).where(
        Item.id.in_(item_ids), Item.id.not_in(answered)).order_by(Item.id)).all()
    return [ItemToAnswer(row.id, row.prompt) for row in rows]


def _unjudged(session: Session, eval_id: str, item_ids: list[int],
              judge: str) -> list[ItemToJudge]:
    judged = select(Judgment.item_id).where(Judgment.eval_id == eval_id, Judgment.judge == judge)
    rows = session.execute(
        select(Item.id, Item.kind, Item.principle, Item.prompt, Response.text)
        .join(Response, (Response.item_id == Item.id) & (Response.eval_id == eval_id))
        .where(Item.id.in_(item_ids), Item.id.not_in(judged)).order_by(Item.id)
    ).all()
    return [ItemToJudge(row.id, ItemKind(row.kind), row.principle, row.prompt, row.text)
            for row in rows]

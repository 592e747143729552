"""Running one shard: load its items, call the engine, save the rows; the eval lifecycle
decides every status. Shards take ids, never ORM objects, and every write is an idempotent
upsert, so a shard that runs twice leaves one row per item."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from service.benchmarks.items import ItemKind
from service.db import session_scope, upsert
from service.evals import lifecycle
from service.evals.grades import evaluation_grading
from service.evals.lifecycle import Stage
from service.models import Judgment, Response
from service.pipeline import choice
from service.pipeline.engine import Engine, SamplingSettings
from service.pipeline.generation import answer_batch
from service.pipeline.judging.judge import judge_batch, no_answer, refusal_grades
from service.pipeline.judging.refusal import REFUSAL_JUDGE
from service.text import clean_optional, clean_text

EngineProvider = Callable[[str], Engine]
WORKER_NAME = socket.gethostname()
REFUSAL_DETECTOR_ENGINE = {"engine": "refusal-detector", "model": REFUSAL_JUDGE,
                           "scheme": "full_compliance/full_refusal/partial_refusal"}


@dataclass(frozen=True)
class ShardOutcome:
    eval_id: str
    stage: Stage
    index: int
    processed: int  # items this run worked on (0 when everything was already done)
    eval_finished: bool = False


def generate_shard(eval_id: str, index: int, engines: EngineProvider,
                   db_url: str | None = None, worker: str | None = None) -> ShardOutcome:
    """Answer the shard's items that have no response yet, with the eval's target model."""
    with session_scope(db_url) as session:
        shard = lifecycle.claim_shard(session, eval_id, Stage.GENERATE, index,
                                      worker or WORKER_NAME)
        if shard is None:
            return ShardOutcome(eval_id, Stage.GENERATE, index, 0)
        evaluation = lifecycle.get_eval(session, eval_id)
        todo = lifecycle.unanswered(session, eval_id, shard.item_ids)
        settings = dict(evaluation.settings)
        model = evaluation.model
    engine = engines(model)
    responses = answer_batch(engine, todo, SamplingSettings(**settings["sampling"]),
                             settings.get("system_prompt"))
    with session_scope(db_url) as session:
        upsert(session, Response, [
            {"eval_id": eval_id, "item_id": r.item_id, "text": clean_text(r.text),
             "prompt_tokens": r.prompt_tokens, "output_tokens": r.output_tokens,
             "finish_reason": r.finish_reason, "error": clean_optional(r.error)}
            for r in responses
        ], keys=["eval_id", "item_id"])
        lifecycle.complete_shard(session, eval_id, Stage.GENERATE, index, engine.describe())
    return ShardOutcome(eval_id, Stage.GENERATE, index, len(responses))


def judge_shard(eval_id: str, index: int, engines: EngineProvider,
                db_url: str | None = None, worker: str | None = None) -> ShardOutcome:
    """Grade the shard's answered items that the judge has not graded yet; the last judge
    shard to finish completes the eval."""
    with session_scope(db_url) as session:
        shard = lifecycle.claim_shard(session, eval_id, Stage.JUDGE, index,
                                      worker or WORKER_NAME)
        if shard is None:
            return ShardOutcome(eval_id, Stage.JUDGE, index, 0)
        evaluation = lifecycle.get_eval(session, eval_id)
        judge, grading = evaluation.judge, evaluation_grading(evaluation)
        todo = lifecycle.unjudged(session, eval_id, shard.item_ids, judge)
    unanswered = [item for item in todo if item.failed is not None]
    questions = [item for item in todo if item.kind == ItemKind.MCQ and item.failed is None]
    todo = [item for item in todo if item.kind != ItemKind.MCQ and item.failed is None]
    grades = [choice.grade(item, judge) for item in questions]  # right or wrong: no model
    grades += [no_answer(item, judge) for item in unanswered]
    described: dict[str, Any] | None = None
    if judge == REFUSAL_JUDGE:  # a calibration of the detector: no model to run
        grades, described = grades + refusal_grades(todo), REFUSAL_DETECTOR_ENGINE
    elif todo:
        engine = engines(judge)
        grades += judge_batch(engine, todo, judge, grading) + refusal_grades(todo)
        described = engine.describe()
    with session_scope(db_url) as session:
        upsert(session, Judgment, [
            {"eval_id": eval_id, "item_id": g.item_id, "judge": g.judge, "status": g.status,
             "score": g.score, "refused": g.refused, "refusal": g.refusal,
             "expected": g.expected, "probabilities": g.probabilities,
             "score_mass": g.score_mass, "correct": g.correct,
             "reason": clean_optional(g.reason), "raw": clean_optional(g.raw)}
            for g in grades
        ], keys=["eval_id", "item_id", "judge"],
            update=["status", "score", "refused", "refusal", "expected", "probabilities",
                    "score_mass", "correct", "reason", "raw"])
        finished = lifecycle.complete_shard(session, eval_id, Stage.JUDGE, index, described)
    return ShardOutcome(eval_id, Stage.JUDGE, index,
                        len(todo) + len(questions) + len(unanswered),
                        eval_finished=finished)


def requeue_shard(eval_id: str, stage: Stage, index: int, error: str,
                  db_url: str | None = None) -> None:
    """A failed attempt that will be retried: the shard waits again, with the error noted."""
    with session_scope(db_url) as session:
        lifecycle.requeue_shard(session, eval_id, stage, index, error)


def fail_shard(eval_id: str, stage: Stage, index: int, error: str,
               db_url: str | None = None) -> None:
    """Record a shard's failure and fail its eval, so nothing is left `running`."""
    with session_scope(db_url) as session:
        lifecycle.fail_shard(session, eval_id, stage, index, error)

"""Running one shard: load its items, call the engine, save the rows; the eval lifecycle
decides every status. Shards take ids, never ORM objects, and every write is an idempotent
upsert, so a shard that runs twice leaves one row per item.

While the database cannot be reached (stopped, restarting, a network cut) a shard waits for
it, with exponential backoff and jitter, and then goes on: the engine's answers are saved
once it is back, and the outage costs the shard none of its attempts.
"""

from __future__ import annotations

import logging
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from service.benchmarks.items import ItemKind
from service.config import GradingMode
from service.db import database_unavailable, session_scope, upsert
from service.evals import lifecycle
from service.evals.grades import evaluation_grading
from service.evals.lifecycle import Stage
from service.models import Judgment, Response
from service.observability.logs import shard_log_context
from service.pipeline import choice
from service.pipeline.engine import Engine, SamplingSettings
from service.pipeline.generation import answer_batch
from service.pipeline.judging.judge import judge_batch, no_answer, refusal_grades
from service.pipeline.judging.refusal import REFUSAL_JUDGE
from service.pipeline.records import GradeRecord, ItemToAnswer, ItemToJudge, ResponseRecord
from service.text import clean_optional, clean_text

EngineProvider = Callable[[str], Engine]
WORKER_NAME = socket.gethostname()
T = TypeVar("T")
log = logging.getLogger(__name__)

# Waiting for the database: the first pause, the longest, and how long in all before the
# error goes to the job (RQ retries it; the reconciler re-enqueues a shard left running).
DB_FIRST_DELAY_S = 0.5
DB_MAX_DELAY_S = 15.0
DB_OUTAGE_S = 600.0
REFUSAL_DETECTOR_ENGINE = {"engine": "refusal-detector", "model": REFUSAL_JUDGE,
                           "scheme": "full_compliance/full_refusal/partial_refusal"}


@dataclass(frozen=True)
class ShardOutcome:
    eval_id: str
    stage: Stage
    index: int
    processed: int  # items this run worked on (0 when everything was already done)
    eval_finished: bool = False


def while_database_down(call: Callable[[], T], what: str,
                        outage_s: float | None = None) -> T:
    """call(), and again while it fails because the database cannot be reached: pauses
    double from DB_FIRST_DELAY_S up to DB_MAX_DELAY_S, each a random half to whole of
    that (jitter, so workers do not come back at once), for up to outage_s in all."""
    deadline = time.monotonic() + (DB_OUTAGE_S if outage_s is None else outage_s)
    delay, waits = DB_FIRST_DELAY_S, 0
    while True:
        try:
            result = call()
        except Exception as exc:
            if not database_unavailable(exc) or time.monotonic() + delay / 2 > deadline:
                raise
            pause = random.uniform(delay / 2, delay)
            log.warning("%s: the database is unreachable; trying again in %.1f s (%s)",
                        what, pause, type(exc).__name__)
            time.sleep(pause)
            delay, waits = min(delay * 2, DB_MAX_DELAY_S), waits + 1
            continue
        if waits:
            log.warning("%s: the database is back after %d waits", what, waits)
        return result


def in_database(db_url: str | None, work: Callable[[Session], T], what: str) -> T:
    """work in one unit of work, run again (whole) while the database cannot be reached."""
    def unit() -> T:
        with session_scope(db_url) as session:
            return work(session)

    return while_database_down(unit, what)


@shard_log_context(Stage.GENERATE)  # its log lines carry eval_id, stage, shard_index
def generate_shard(eval_id: str, index: int, engines: EngineProvider,
                   db_url: str | None = None, worker: str | None = None) -> ShardOutcome:
    """Answer the shard's items that have no response yet, with the eval's target model."""
    what = f"generate shard {index} of eval {eval_id}"
    claimed = in_database(db_url, lambda session: _claim_generate(
        session, eval_id, index, worker or WORKER_NAME), what)
    if claimed is None:
        return ShardOutcome(eval_id, Stage.GENERATE, index, 0)
    todo, settings, model = claimed
    engine = engines(model)
    responses = answer_batch(engine, todo, SamplingSettings(**settings["sampling"]),
                             settings.get("system_prompt"))
    described = engine.describe()
    in_database(db_url, lambda session: _save_responses(
        session, eval_id, index, responses, described), what)
    return ShardOutcome(eval_id, Stage.GENERATE, index, len(responses))


def _claim_generate(session: Session, eval_id: str, index: int, worker: str) -> tuple[
        list[ItemToAnswer], dict[str, Any], str] | None:
    """Claim the shard: its unanswered items, the eval's settings and model (None: done)."""
    shard = lifecycle.claim_shard(session, eval_id, Stage.GENERATE, index, worker)
    if shard is None:
        return None
    evaluation = lifecycle.get_eval(session, eval_id)
    todo = lifecycle.unanswered(session, eval_id, shard.item_ids)
    return todo, dict(evaluation.settings), evaluation.model


def _save_responses(session: Session, eval_id: str, index: int,
                    responses: list[ResponseRecord], described: dict[str, Any]) -> None:
    upsert(session, Response, [
        {"eval_id": eval_id, "item_id": r.item_id, "text": clean_text(r.text),
         "prompt_tokens": r.prompt_tokens, "output_tokens": r.output_tokens,
         "finish_reason": r.finish_reason, "error": clean_optional(r.error)}
        for r in responses
    ], keys=["eval_id", "item_id"])
    lifecycle.complete_shard(session, eval_id, Stage.GENERATE, index, described)


@shard_log_context(Stage.JUDGE)  # its log lines carry eval_id, stage, shard_index
def judge_shard(eval_id: str, index: int, engines: EngineProvider,
                db_url: str | None = None, worker: str | None = None) -> ShardOutcome:
    """Grade the shard's answered items that the judge has not graded yet; the last judge
    shard to finish completes the eval."""
    what = f"judge shard {index} of eval {eval_id}"
    claimed = in_database(db_url, lambda session: _claim_judge(
        session, eval_id, index, worker or WORKER_NAME), what)
    if claimed is None:
        return ShardOutcome(eval_id, Stage.JUDGE, index, 0)
    judge, grading, todo = claimed
    grades, described = _grade(todo, judge, grading, engines)
    finished = in_database(db_url, lambda session: _save_grades(
        session, eval_id, index, grades, described), what)
    return ShardOutcome(eval_id, Stage.JUDGE, index, len(todo), eval_finished=finished)


def _claim_judge(session: Session, eval_id: str, index: int, worker: str) -> tuple[
        str, GradingMode, list[ItemToJudge]] | None:
    """Claim the shard: the eval's judge, its grading and the items to grade (None: done)."""
    shard = lifecycle.claim_shard(session, eval_id, Stage.JUDGE, index, worker)
    if shard is None:
        return None
    evaluation = lifecycle.get_eval(session, eval_id)
    judge, grading = evaluation.judge, evaluation_grading(evaluation)
    return judge, grading, lifecycle.unjudged(session, eval_id, shard.item_ids, judge)


def _grade(items: list[ItemToJudge], judge: str, grading: GradingMode,
           engines: EngineProvider) -> tuple[list[GradeRecord], dict[str, Any] | None]:
    """Every item's grades (multiple choice and failed requests need no model) and the
    engine that gave them."""
    unanswered = [item for item in items if item.failed is not None]
    questions = [item for item in items if item.kind == ItemKind.MCQ and item.failed is None]
    todo = [item for item in items if item.kind != ItemKind.MCQ and item.failed is None]
    grades = [choice.grade(item, judge) for item in questions]  # right or wrong: no model
    grades += [no_answer(item, judge) for item in unanswered]
    described: dict[str, Any] | None = None
    if judge == REFUSAL_JUDGE:  # a calibration of the detector: no model to run
        grades, described = grades + refusal_grades(todo), REFUSAL_DETECTOR_ENGINE
    elif todo:
        engine = engines(judge)
        grades += judge_batch(engine, todo, judge, grading) + refusal_grades(todo)
        described = engine.describe()
    return grades, described


def _save_grades(session: Session, eval_id: str, index: int, grades: list[GradeRecord],
                 described: dict[str, Any] | None) -> bool:
    """Upsert the grades and complete the shard; True when that completed the eval."""
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
    return lifecycle.complete_shard(session, eval_id, Stage.JUDGE, index, described)


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

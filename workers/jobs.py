"""The RQ job entry points: plain functions of ids that run a shard on the worker's warm engines.

A worker process calls configure() once at start with its engines, database and Redis; every
job it runs then finds them here, so an engine loads once per process, not once per job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from redis import Redis
from rq import get_current_job
from sqlalchemy.orm import Session

from service.config import get_settings
from service.db import session_scope
from service.errors import NotFound, public_error
from service.evals.lifecycle import TERMINAL, Stage
from service.finetunes import mitigations
from service.models import Eval
from service.queue import jobs as queue_jobs
from service.queue.jobs import Priority
from workers import finetunes, notify, shards
from workers.memory import return_free_memory
from workers.shards import EngineProvider, ShardOutcome

log = logging.getLogger(__name__)

ShardTask = Callable[..., ShardOutcome]


@dataclass(frozen=True)
class JobContext:
    """What every job of this worker process runs with."""

    engines: EngineProvider
    connection: Redis
    db_url: str | None = None
    prefix: str | None = None
    worker: str = shards.WORKER_NAME


_context: JobContext | None = None


def configure(context: JobContext | None) -> None:
    """Set (or, with None, clear) the context of this process's jobs."""
    global _context
    _context = context


def current_context() -> JobContext:
    if _context is None:
        raise RuntimeError("no worker context: shard jobs run inside a MedSafe worker "
                           "(medsafe worker / workers.worker.run_worker)")
    return _context


def run_generate_shard(eval_id: str, index: int) -> dict[str, Any]:
    """Generate one shard, then queue its judge shard on the eval's judge queue."""
    context = current_context()
    outcome = _run(context, shards.generate_shard, eval_id, Stage.GENERATE, index)
    if outcome is not None:
        _enqueue_judge(context, eval_id, index)
    return asdict(outcome) if outcome is not None else {}


def run_judge_shard(eval_id: str, index: int) -> dict[str, Any]:
    """Judge one shard; the last one writes the summary and marks the eval succeeded (and
    moves on a mitigation study that waited on it)."""
    context = current_context()
    try:
        outcome = _run(context, shards.judge_shard, eval_id, Stage.JUDGE, index)
    except Exception:
        advance_studies(context, eval_id=eval_id)  # a failed eval fails its study
        raise
    if outcome is not None and outcome.eval_finished:
        advance_studies(context, eval_id=eval_id)
    return asdict(outcome) if outcome is not None else {}


def run_finetune(finetune_id: str) -> dict[str, Any]:
    """Train one fine-tune on this worker, then move on the study that waited on it."""
    context = current_context()
    try:
        outcome = finetunes.run_finetune(finetune_id, get_settings(), context.db_url,
                                         context.worker)
    finally:
        advance_studies(context, finetune_id=finetune_id)
        return_free_memory()
    return asdict(outcome)


def advance_studies(context: JobContext, *, eval_id: str | None = None,
                    finetune_id: str | None = None) -> None:
    """Advance the running mitigation studies (those waiting on the eval or fine-tune, where
    named); a failure is logged: the next maintenance round tries again."""
    try:
        with session_scope(context.db_url) as session:
            ids = mitigations.open_studies(session, eval_id=eval_id, finetune_id=finetune_id)
        for study_id in ids:
            with session_scope(context.db_url) as session:
                mitigations.advance(session, study_id, get_settings(),
                                    connection=context.connection, prefix=context.prefix)
    except Exception:
        log.exception("could not advance mitigation studies")


def run_notification(notification_id: int) -> dict[str, Any]:
    """Deliver one webhook notification; a failure is re-raised for RQ to retry with backoff."""
    context = current_context()
    settings = get_settings()
    delivered = notify.deliver(notification_id, context.db_url, settings.webhook_timeout_s,
                               last_attempt=not _retries_left(),
                               allow_private=settings.webhook_allow_private)
    return {"notification_id": notification_id, "delivered": delivered}


def _run(context: JobContext, task: ShardTask, eval_id: str, stage: Stage,
         index: int) -> ShardOutcome | None:
    """Run the task. A failure with retries left is re-raised for RQ to retry; the last one
    first marks the shard and the eval failed, so no eval stays `running`."""
    try:
        return task(eval_id, index, context.engines, context.db_url, worker=context.worker)
    except NotFound as exc:
        log.warning("%s shard %s of eval %s: %s; nothing to do", stage, index, eval_id, exc)
        return None
    except Exception as exc:
        error = public_error(exc, f"{stage} shard {index} of eval {eval_id}")
        record = shards.requeue_shard if _retries_left() else shards.fail_shard
        try:
            record(eval_id, stage, index, error, context.db_url)
        except Exception:
            log.exception("could not record the failure of %s shard %s of eval %s",
                          stage, index, eval_id)
        raise
    finally:
        return_free_memory()


def _retries_left() -> int:
    job = get_current_job()
    return int(job.retries_left or 0) if job is not None else 0


def _enqueue_judge(context: JobContext, eval_id: str, index: int) -> None:
    """Queue the judge shard of a generated one (the database read waits out an outage)."""
    def read(session: Session) -> tuple[str, Priority] | None:
        evaluation = session.get(Eval, eval_id)
        if evaluation is None or evaluation.status in TERMINAL:
            return None
        return evaluation.judge, Priority(evaluation.priority)

    found = shards.in_database(context.db_url, read, f"queueing judge shard {index} of eval "
                                                     f"{eval_id}")
    if found is None:
        return
    judge, priority = found
    queue_jobs.enqueue_shard(context.connection, eval_id, Stage.JUDGE, index, judge, priority,
                             prefix=context.prefix)

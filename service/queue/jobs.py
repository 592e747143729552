"""Shard jobs in RQ: queue names, deterministic job ids, and enqueueing only after the
transaction that wrote the shards has committed. Jobs carry ids, never ORM objects."""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import StrEnum

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import event
from sqlalchemy.orm import Session

from service.config import Settings, get_settings
from service.evals.lifecycle import Stage, get_eval, shard_indexes
from service.queue.connection import redis_connection

log = logging.getLogger(__name__)


class Priority(StrEnum):
    """An eval's queue priority; a worker drains its queues in this order."""

    HIGH = "high"
    DEFAULT = "default"
    LOW = "low"


DEFAULT_PREFIX = "medsafe"
JOB_FUNCTIONS = {Stage.GENERATE: "workers.jobs.run_generate_shard",
                 Stage.JUDGE: "workers.jobs.run_judge_shard"}
# A shard of 64 items with a long max_tokens takes many minutes on a CPU; the limit only
# cuts off a hung engine. Crash recovery does not wait for it (see service.queue.reconcile).
JOB_TIMEOUT_S = 3 * 3600
RESULT_TTL_S = 24 * 3600
FAILURE_TTL_S = 7 * 24 * 3600
RETRIES = 3  # after the first attempt; the last failure fails the shard and its eval
ACTIVE = frozenset({JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED,
                    JobStatus.DEFERRED})
WAITING = frozenset({JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED})


def queue_prefix(settings: Settings | None = None) -> str:
    """Namespace of MedSafe's queues, so deployments (or test runs) can share one Redis."""
    settings = settings or get_settings()
    return settings.queue_prefix or DEFAULT_PREFIX


def queue_name(stage: Stage, spec: str, priority: Priority = Priority.DEFAULT,
               prefix: str | None = None) -> str:
    """Generation shards queue per target model, judge shards per judge: a worker takes only
    work for the engines it holds."""
    return f"{prefix or queue_prefix()}:{Stage(stage)}:{spec}:{Priority(priority)}"


def worker_queue_names(models: list[str], judge: str, prefix: str | None = None) -> list[str]:
    """The queues a worker listens on, in the order it drains them: by priority, and within
    a priority judge shards first, so evals already under way finish before new ones start."""
    names: list[str] = []
    for priority in Priority:
        for stage, spec in [(Stage.JUDGE, judge), *((Stage.GENERATE, model) for model in models)]:
            name = queue_name(stage, spec, priority, prefix)
            if name not in names:
                names.append(name)
    return names


def job_id(eval_id: str, stage: Stage, index: int) -> str:
    """Deterministic: a second enqueue of the same shard finds the first job."""
    return f"{eval_id}-{stage}-{index}"


def fetch_job(connection: Redis, jid: str) -> Job | None:
    try:
        return Job.fetch(jid, connection=connection)
    except NoSuchJobError:
        return None


def enqueue_shard(connection: Redis, eval_id: str, stage: Stage, index: int, spec: str,
                  priority: Priority = Priority.DEFAULT, *, prefix: str | None = None,
                  replace: bool = False) -> Job | None:
    """Enqueue the job of one shard; None when its job already waits or runs. A job that
    ended (or, with replace, one whose worker died) is replaced by a fresh one."""
    name = queue_name(stage, spec, priority, prefix)
    jid = job_id(eval_id, stage, index)
    existing = fetch_job(connection, jid)
    if existing is not None:
        if existing.get_status(refresh=False) in ACTIVE and not replace:
            return None
        existing.delete()
    try:
        return Queue(name, connection=connection).enqueue_call(
            JOB_FUNCTIONS[Stage(stage)], args=(eval_id, index), job_id=jid,
            timeout=JOB_TIMEOUT_S, result_ttl=RESULT_TTL_S, failure_ttl=FAILURE_TTL_S,
            retry=Retry(max=RETRIES), description=f"{stage} shard {index} of eval {eval_id}",
            unique=True)
    except DuplicateJobError:
        return None  # another process enqueued it a moment ago


def enqueue_eval_after_commit(session: Session, eval_id: str, *,
                              connection: Redis | None = None,
                              prefix: str | None = None) -> None:
    """Once the caller's transaction commits, enqueue every generation shard of the eval at
    the eval's priority; nothing when it rolls back."""
    evaluation = get_eval(session, eval_id)
    indexes = shard_indexes(session, eval_id)
    model, priority = evaluation.model, Priority(evaluation.priority)

    def enqueue() -> None:
        conn = connection or redis_connection()
        for index in indexes:
            enqueue_shard(conn, eval_id, Stage.GENERATE, index, model, priority, prefix=prefix)

    after_commit(session, enqueue, f"enqueue eval {eval_id}")


def discard_eval_jobs_after_commit(session: Session, eval_id: str, *,
                                   connection: Redis | None = None) -> None:
    """After a cancel commits, drop the eval's jobs still waiting in a queue (a worker would
    skip them anyway; this keeps the queues short). A running shard finishes its batch."""
    indexes = shard_indexes(session, eval_id)

    def discard() -> None:
        conn = connection or redis_connection()
        for stage in Stage:
            for index in indexes:
                job = fetch_job(conn, job_id(eval_id, stage, index))
                if job is not None and job.get_status(refresh=False) in WAITING:
                    job.delete()

    after_commit(session, discard, f"discard jobs of eval {eval_id}")


def after_commit(session: Session, action: Callable[[], None], what: str) -> None:
    """Run action once after the session's transaction commits; never after a rollback.
    Redis being down does not undo the commit: the reconciler enqueues what is missing."""
    state = {"pending": True}

    def on_commit(_session: Session) -> None:
        if not state["pending"]:
            return
        state["pending"] = False
        try:
            action()
        except (RedisError, OSError) as exc:
            log.warning("%s: Redis failed (%s); the reconciler will catch up", what, exc)

    def on_rollback(_session: Session) -> None:
        state["pending"] = False

    event.listen(session, "after_commit", on_commit, once=True)
    event.listen(session, "after_rollback", on_rollback, once=True)

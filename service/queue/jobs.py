"""Shard jobs in RQ: queue names, deterministic job ids, priorities, and actions that run
only after a transaction has committed. Jobs carry ids, never ORM objects; what a stage or
a shard is belongs to the eval lifecycle, which calls this."""

from __future__ import annotations

import logging
import random
import re
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
from service.model_specs import serving_spec
from service.queue.connection import redis_connection

log = logging.getLogger(__name__)


class Priority(StrEnum):
    """An eval's queue priority; a worker drains its queues in this order."""

    HIGH = "high"
    DEFAULT = "default"
    LOW = "low"


DEFAULT_PREFIX = "medsafe"
# A shard of 64 items with a long max_tokens takes many minutes on a CPU; the limit only
# cuts off a hung engine. Crash recovery does not wait for it (see service.evals.reconcile).
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


def queue_name(stage: str, spec: str, priority: Priority = Priority.DEFAULT,
               prefix: str | None = None) -> str:
    """A stage's queue for one model: generation shards queue per target model, judge
    shards per judge, so a worker takes only work for the engines it holds. A LoRA adapter
    queues with its base model: the base's engine serves every adapter on it."""
    return f"{prefix or queue_prefix()}:{stage}:{serving_spec(spec)}:{Priority(priority)}"


def job_function(stage: str) -> str:
    """The worker's entry point for a stage's shards (workers.jobs, named, not imported)."""
    return f"workers.jobs.run_{stage}_shard"


def job_id(eval_id: str, stage: str, index: int) -> str:
    """Deterministic: a second enqueue of the same shard finds the first job."""
    return f"{eval_id}-{stage}-{index}"


def fetch_job(connection: Redis, jid: str) -> Job | None:
    try:
        return Job.fetch(jid, connection=connection)
    except NoSuchJobError:
        return None


def retry_delays(base_s: float, rng: random.Random | None = None) -> list[int]:
    """Seconds before each retry of a failed shard: about base, 3x and 9x base, each drawn
    from 50-150% of that (jitter), so shards that failed together (a provider outage) do not
    come back in lockstep. Empty when base_s is 0: retries follow at once."""
    if base_s <= 0:
        return []
    draw = rng or random.Random()
    return [max(1, round(base_s * 3**attempt * draw.uniform(0.5, 1.5)))
            for attempt in range(RETRIES)]


def enqueue_shard(connection: Redis, eval_id: str, stage: str, index: int, spec: str,
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
            job_function(stage), args=(eval_id, index), job_id=jid,
            timeout=JOB_TIMEOUT_S, result_ttl=RESULT_TTL_S, failure_ttl=FAILURE_TTL_S,
            retry=Retry(max=RETRIES,
                        interval=retry_delays(get_settings().shard_retry_base_s) or 0),
            description=f"{stage} shard {index} of eval {eval_id}",
            unique=True)
    except DuplicateJobError:
        return None  # another process enqueued it a moment ago


def finetune_queue_name(prefix: str | None = None) -> str:
    """The queue of fine-tune jobs, served by `medsafe worker --finetune`."""
    return f"{prefix or queue_prefix()}:finetune"


FINETUNE_FUNCTION = "workers.jobs.run_finetune"
FINETUNE_TIMEOUT_S = 24 * 3600


def finetune_job_id(finetune_id: str) -> str:
    return f"finetune-{finetune_id}"


def enqueue_finetune(connection: Redis, finetune_id: str, *,
                     prefix: str | None = None) -> Job | None:
    """Queue one fine-tune; None when its job already waits or runs. No automatic retry: a
    failed training run is recorded as failed, not started over."""
    jid = finetune_job_id(finetune_id)
    existing = fetch_job(connection, jid)
    if existing is not None:
        if existing.get_status(refresh=False) in ACTIVE:
            return None
        existing.delete()
    try:
        return Queue(finetune_queue_name(prefix), connection=connection).enqueue_call(
            FINETUNE_FUNCTION, args=(finetune_id,), job_id=jid, timeout=FINETUNE_TIMEOUT_S,
            result_ttl=RESULT_TTL_S, failure_ttl=FAILURE_TTL_S,
            description=f"fine-tune {finetune_id}", unique=True)
    except DuplicateJobError:
        return None


def notify_queue_name(prefix: str | None = None) -> str:
    """The queue of webhook deliveries; every worker serves it after its shards."""
    return f"{prefix or queue_prefix()}:notify"


NOTIFY_FUNCTION = "workers.jobs.run_notification"


def enqueue_notification(connection: Redis | None, notification_id: int, *,
                         prefix: str | None = None, settings: Settings | None = None) -> None:
    """Queue the delivery of one notification, retried with the configured backoff
    (MEDSAFE_WEBHOOK_RETRY_DELAYS); a delivery already waiting or running is left alone."""
    settings = settings or get_settings()
    connection = connection or redis_connection()
    queue = notify_queue_name(prefix)
    # Notification ids are per database: the job id names the queue's prefix as well.
    jid = f"notify-{re.sub(r'[^A-Za-z0-9_-]', '_', queue)}-{notification_id}"
    existing = fetch_job(connection, jid)
    if existing is not None:
        if existing.get_status(refresh=False) in ACTIVE:
            return
        existing.delete()
    delays = list(settings.webhook_retry_delays)
    try:
        Queue(queue, connection=connection).enqueue_call(
            NOTIFY_FUNCTION, args=(notification_id,), job_id=jid,
            timeout=int(settings.webhook_timeout_s) + 30, result_ttl=RESULT_TTL_S,
            failure_ttl=FAILURE_TTL_S,
            retry=Retry(max=len(delays), interval=delays) if delays else None,
            description=f"webhook notification {notification_id}", unique=True)
    except DuplicateJobError:
        return


def discard_waiting_jobs(connection: Redis, jids: list[str]) -> None:
    """Drop the jobs among jids that still wait in a queue (one that runs finishes)."""
    for jid in jids:
        job = fetch_job(connection, jid)
        if job is not None and job.get_status(refresh=False) in WAITING:
            job.delete()


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

"""Crash safety: the database says which shards are unfinished; make sure each has a live job.

A shard of an unfinished eval needs a job while it is queued or running (a judge shard only
once its generation shard succeeded). The job is fine while it waits in its queue or runs on
a live worker. The shard is enqueued again when its job

* started on a worker that died: the worker's liveness key expired, its process on this host
  is gone, or the worker now runs something else (restarted under the same name);
* ended (finished, failed) without the database recording the end;
* is missing, or is marked queued but sits in no queue: after `grace_s`, since the enqueue
  follows the commit by a moment and a worker dequeues before it marks the job started.

Workers write every row as an idempotent upsert, so a shard that runs twice leaves one row
per item. A shard whose workers died `max_attempts` times fails, so no eval stays running;
an eval whose shards all succeeded but that is not marked finished is finished here.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any, cast

from redis import Redis
from rq.job import JobStatus
from rq.queue import Queue
from rq.worker import BaseWorker
from sqlalchemy import select

from service.db import session_scope
from service.evals import lifecycle
from service.evals.lifecycle import OpenShard
from service.evals.regressions import NotificationStatus
from service.models import Notification, utcnow
from service.queue.jobs import (
    Priority,
    enqueue_notification,
    enqueue_shard,
    fetch_job,
    job_id,
    queue_prefix,
)
from service.queue.liveness import worker_alive

log = logging.getLogger(__name__)

GRACE_S = 30.0
MAX_SHARD_ATTEMPTS = 5
LOCK_TTL_S = 300


@dataclass
class ReconcileReport:
    requeued: list[str] = field(default_factory=list)  # job ids
    gave_up: list[str] = field(default_factory=list)  # job ids of shards marked failed
    finished: list[str] = field(default_factory=list)  # eval ids
    # Job ids missing for less than the grace period: enqueued again once it has passed.
    waiting: list[str] = field(default_factory=list)
    notifications: list[int] = field(default_factory=list)  # pending webhook calls queued
    skipped: bool = False  # another reconciler held the lock


class Verdict(StrEnum):
    OK = "ok"
    SUSPECT = "suspect"  # act only once it has lasted grace_s
    LOST = "lost"


def reconcile(connection: Redis, db_url: str | None = None, prefix: str | None = None,
              grace_s: float = GRACE_S,
              max_attempts: int = MAX_SHARD_ATTEMPTS) -> ReconcileReport:
    """Re-enqueue the shards the database says are unfinished and whose job is gone; one
    reconciler at a time per queue prefix."""
    prefix = prefix or queue_prefix()
    report = ReconcileReport()
    lock, token = f"{prefix}:reconcile:lock", uuid.uuid4().hex
    if not connection.set(lock, token, nx=True, ex=LOCK_TTL_S):
        report.skipped = True
        return report
    try:
        shards, done = _unfinished(db_url)
        for shard in shards:
            _reconcile_shard(connection, shard, db_url, prefix, grace_s, max_attempts, report)
        for eval_id in done:
            if _finish(db_url, eval_id):
                report.finished.append(eval_id)
        report.notifications = _requeue_notifications(connection, db_url, prefix, grace_s)
    finally:
        if connection.get(lock) == token.encode():
            connection.delete(lock)
    if report.requeued or report.gave_up or report.finished:
        log.info("reconciled: requeued %s, gave up %s, finished %s",
                 report.requeued, report.gave_up, report.finished)
    return report


def _requeue_notifications(connection: Redis, db_url: str | None, prefix: str,
                           grace_s: float) -> list[int]:
    """Queue again the webhook notifications still pending after the grace period (Redis was
    down when they were made, or they went to another prefix's queue); one whose delivery
    waits or runs is left alone."""
    cutoff = utcnow() - timedelta(seconds=grace_s)
    with session_scope(db_url) as session:
        pending = list(session.scalars(select(Notification.id).where(
            Notification.status == NotificationStatus.PENDING, Notification.created_at < cutoff)))
    for notification_id in pending:
        enqueue_notification(connection, notification_id, prefix=prefix)
    return pending


def _unfinished(db_url: str | None) -> tuple[list[OpenShard], list[str]]:
    with session_scope(db_url) as session:
        return lifecycle.shards_needing_jobs(session)


def _reconcile_shard(connection: Redis, shard: OpenShard, db_url: str | None, prefix: str,
                     grace_s: float, max_attempts: int, report: ReconcileReport) -> None:
    jid = job_id(shard.eval_id, shard.stage, shard.index)
    suspect_key = f"{prefix}:suspect:{jid}"
    verdict, reason = inspect_job(connection, jid, prefix)
    if verdict is Verdict.OK:
        connection.delete(suspect_key)
        return
    if verdict is Verdict.SUSPECT and not _lasted(connection, suspect_key, grace_s):
        report.waiting.append(jid)
        return
    attempts = _attempts_if_open(db_url, shard)
    if attempts is None:
        return  # finished while we looked
    if attempts >= max_attempts:
        _give_up(db_url, shard, f"gave up after {attempts} attempts ({reason})")
        report.gave_up.append(jid)
    elif enqueue_shard(connection, shard.eval_id, shard.stage, shard.index, shard.spec,
                       Priority(shard.priority), prefix=prefix, replace=True) is not None:
        log.warning("re-enqueued %s: %s", jid, reason)
        report.requeued.append(jid)
    connection.delete(suspect_key)


def inspect_job(connection: Redis, jid: str, prefix: str | None = None) -> tuple[Verdict, str]:
    """Whether the shard's job will still run, and why not."""
    job = fetch_job(connection, jid)
    if job is None:
        return Verdict.SUSPECT, "no job"
    status = job.get_status(refresh=False)
    if status in (JobStatus.SCHEDULED, JobStatus.DEFERRED):
        return Verdict.OK, str(status)
    if status == JobStatus.QUEUED:
        queue = Queue(job.origin, connection=connection)
        waiting = any(connection.lpos(key, jid) is not None
                      for key in (queue.key, queue.intermediate_queue_key))
        return (Verdict.OK, str(status)) if waiting else (Verdict.SUSPECT, "queued in no queue")
    if status == JobStatus.STARTED:
        worker = job.worker_name or ""
        if _runs_on(connection, worker, jid, prefix):
            return Verdict.OK, f"running on {worker}"
        refreshed = fetch_job(connection, jid)
        if refreshed is None or refreshed.get_status(refresh=False) != JobStatus.STARTED:
            return Verdict.OK, "ended while we looked"
        return Verdict.LOST, f"worker {worker or '?'} died running it"
    return Verdict.LOST, f"job {status} but the shard is unfinished"


def _runs_on(connection: Redis, worker: str, jid: str, prefix: str | None) -> bool:
    if not worker or not worker_alive(connection, worker, prefix):
        return False
    current: Any = connection.hget(BaseWorker.redis_worker_namespace_prefix + worker,
                                   "current_job")
    return current is not None and current.decode() == jid


def _lasted(connection: Redis, key: str, grace_s: float) -> bool:
    """Whether a suspicion first noted under key is at least grace_s old (Redis's clock)."""
    if grace_s <= 0:
        return True
    seconds, micros = cast(tuple[int, int], connection.time())
    now = seconds + micros / 1e6
    connection.set(key, now, nx=True, ex=int(grace_s * 4) + 1)
    first = float(cast(bytes | None, connection.get(key)) or now)
    return now - first >= grace_s


def _attempts_if_open(db_url: str | None, shard: OpenShard) -> int | None:
    with session_scope(db_url) as session:
        return lifecycle.open_shard_attempts(session, shard)


def _give_up(db_url: str | None, shard: OpenShard, error: str) -> None:
    with session_scope(db_url) as session:
        lifecycle.fail_shard(session, shard.eval_id, shard.stage, shard.index, error)
    log.error("eval %s failed: %s shard %s %s", shard.eval_id, shard.stage, shard.index, error)


def _finish(db_url: str | None, eval_id: str) -> bool:
    with session_scope(db_url) as session:
        return lifecycle.complete_eval_if_done(session, eval_id)

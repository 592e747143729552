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

import json
import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, cast

from redis import Redis
from rq.job import JobStatus
from rq.queue import Queue
from rq.worker import BaseWorker
from sqlalchemy import select

from service import evals
from service.db import session_scope
from service.models import Eval, Shard
from service.queue import enqueue_shard, eval_priority, fetch_job, job_id, queue_prefix

log = logging.getLogger(__name__)

GRACE_S = 30.0
MAX_SHARD_ATTEMPTS = 5
LIVENESS_TTL_S = 60
LOCK_TTL_S = 300
OPEN = ("queued", "running")


@dataclass
class ReconcileReport:
    requeued: list[str] = field(default_factory=list)  # job ids
    gave_up: list[str] = field(default_factory=list)  # job ids of shards marked failed
    finished: list[str] = field(default_factory=list)  # eval ids
    skipped: bool = False  # another reconciler held the lock


@dataclass(frozen=True)
class OpenShard:
    eval_id: str
    stage: str
    index: int
    spec: str
    priority: str


class Verdict(StrEnum):
    OK = "ok"
    SUSPECT = "suspect"  # act only once it has lasted grace_s
    LOST = "lost"


# --- worker liveness -------------------------------------------------------------------

def liveness_key(name: str, prefix: str | None = None) -> str:
    return f"{prefix or queue_prefix()}:alive:{name}"


def process_identity(pid: int | None = None) -> dict[str, Any]:
    """Who a worker process is: host, boot, pid and the kernel's start time of that pid, so
    a reused pid is not mistaken for the worker."""
    pid = pid or os.getpid()
    return {"host": socket.gethostname(), "boot": _boot_id(), "pid": pid,
            "start": _proc_stat(pid)[1]}


def mark_alive(connection: Redis, name: str, identity: dict[str, Any],
               prefix: str | None = None, ttl: int = LIVENESS_TTL_S) -> None:
    connection.set(liveness_key(name, prefix), json.dumps(identity), ex=ttl)


def mark_gone(connection: Redis, name: str, prefix: str | None = None) -> None:
    connection.delete(liveness_key(name, prefix))


def worker_alive(connection: Redis, name: str, prefix: str | None = None) -> bool:
    """False once the worker's liveness key expired, or at once when its process ran on this
    machine and is gone (a SIGKILL leaves no time to say goodbye)."""
    raw: Any = connection.get(liveness_key(name, prefix))
    if raw is None:
        return False
    identity = json.loads(raw)
    if identity.get("host") != socket.gethostname() or identity.get("boot") != _boot_id():
        return True  # another machine: only its key expiring tells
    return not _process_gone(int(identity["pid"]), identity.get("start"))


def _process_gone(pid: int, start: str | None) -> bool:
    if not Path("/proc/self/stat").exists():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    state, started = _proc_stat(pid)
    return state in (None, "Z", "X") or (start is not None and started != start)


def _proc_stat(pid: int) -> tuple[str | None, str | None]:
    """(state, start time) of a process from /proc; (None, None) where there is none."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None, None
    fields = text.rpartition(")")[2].split()
    return fields[0], fields[19]


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def release_worker_name(connection: Redis, name: str, prefix: str | None = None) -> None:
    """Let a restarted worker take its old name: RQ refuses a name whose registration a
    killed worker left behind. Raises when a live worker holds the name."""
    if worker_alive(connection, name, prefix):
        raise RuntimeError(f"a worker named {name!r} is running; give this one another --name")
    key = BaseWorker.redis_worker_namespace_prefix + name
    if connection.exists(key) and not connection.hexists(key, "death"):
        connection.delete(key)
        connection.srem(BaseWorker.redis_workers_keys, key)


# --- reconciling -----------------------------------------------------------------------

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
    finally:
        if connection.get(lock) == token.encode():
            connection.delete(lock)
    if report.requeued or report.gave_up or report.finished:
        log.info("reconciled: requeued %s, gave up %s, finished %s",
                 report.requeued, report.gave_up, report.finished)
    return report


def _unfinished(db_url: str | None) -> tuple[list[OpenShard], list[str]]:
    """Shards of unfinished evals that need a job, and unfinished evals with nothing left."""
    with session_scope(db_url) as session:
        rows = session.execute(
            select(Shard.eval_id, Shard.stage, Shard.index.label("shard"), Shard.status, Eval)
            .join(Eval, Eval.id == Shard.eval_id).where(Eval.status.in_(OPEN))
            .order_by(Shard.eval_id, Shard.stage, Shard.index)).all()
        generated = {(r.eval_id, r.shard) for r in rows
                     if r.stage == "generate" and r.status == "succeeded"}
        shards = [
            OpenShard(r.eval_id, r.stage, r.shard,
                      r.Eval.model if r.stage == "generate" else r.Eval.judge,
                      eval_priority(r.Eval))
            for r in rows if r.status in OPEN
            and (r.stage == "generate" or (r.eval_id, r.shard) in generated)]
        unfinished = {r.eval_id for r in rows if r.status != "succeeded"}
        done = sorted({r.eval_id for r in rows} - unfinished)
    return shards, done


def _reconcile_shard(connection: Redis, shard: OpenShard, db_url: str | None, prefix: str,
                     grace_s: float, max_attempts: int, report: ReconcileReport) -> None:
    jid = job_id(shard.eval_id, shard.stage, shard.index)
    suspect_key = f"{prefix}:suspect:{jid}"
    verdict, reason = inspect_job(connection, jid, prefix)
    if verdict is Verdict.OK:
        connection.delete(suspect_key)
        return
    if verdict is Verdict.SUSPECT and not _lasted(connection, suspect_key, grace_s):
        return
    attempts = _attempts_if_open(db_url, shard)
    if attempts is None:
        return  # finished while we looked
    if attempts >= max_attempts:
        _give_up(db_url, shard, f"gave up after {attempts} attempts ({reason})")
        report.gave_up.append(jid)
    elif enqueue_shard(connection, shard.eval_id, shard.stage, shard.index, shard.spec,
                       shard.priority, prefix=prefix, replace=True) is not None:
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
        return (Verdict.OK, "queued") if waiting else (Verdict.SUSPECT, "queued in no queue")
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
        row = session.execute(select(Shard.status, Shard.attempts, Eval.status.label("eval"))
                              .join(Eval, Eval.id == Shard.eval_id).where(
            Shard.eval_id == shard.eval_id, Shard.stage == shard.stage,
            Shard.index == shard.index)).one_or_none()
    if row is None or row.status not in OPEN or row.eval not in OPEN:
        return None
    return int(row.attempts)


def _give_up(db_url: str | None, shard: OpenShard, error: str) -> None:
    with session_scope(db_url) as session:
        evals.fail_shard(session, shard.eval_id, shard.stage, shard.index, error)
    log.error("eval %s failed: %s shard %s %s", shard.eval_id, shard.stage, shard.index, error)


def _finish(db_url: str | None, eval_id: str) -> bool:
    with session_scope(db_url) as session:
        evaluation = session.get(Eval, eval_id, with_for_update=True)
        left = session.scalars(select(Shard.id).where(
            Shard.eval_id == eval_id, Shard.status != "succeeded")).first()
        if evaluation is None or evaluation.status not in OPEN or left is not None:
            return False
        evals.finish_eval(session, eval_id)
    return True

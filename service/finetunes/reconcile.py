"""Crash safety for fine-tunes: the database says which fine-tunes are unfinished; make sure
each queued one has a job and no running one belongs to a process that is gone.

* A queued fine-tune whose job is missing or ended (Redis was down at submission, or lost its
  data) is enqueued again once it is older than a grace period.
* A running fine-tune fails, saying so, when its worker's liveness key expired (the worker
  died or was killed mid-training) or when its job ended without the outcome being recorded
  (the worker lives on, but the last write failed). Training restarts from nothing, so it is
  for the user to submit again, not for the reconciler to spend another hour of GPU on.
* Fine-tunes that `medsafe finetune` or `medsafe mitigate` train in their own process are
  owned by that process ("local:" and its identity): never queued for a worker, and failed
  once that process is gone from this machine.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

from redis import Redis
from rq.job import JobStatus
from sqlalchemy import select

from service.db import session_scope
from service.finetunes import store
from service.models import Finetune, utcnow
from service.queue.jobs import ACTIVE, enqueue_finetune, fetch_job, finetune_job_id
from service.queue.liveness import process_alive, process_identity, worker_alive

log = logging.getLogger(__name__)

GRACE_S = 60.0
LOCAL = "local:"  # the owner of a fine-tune trained by the CLI itself, then its identity
ENDED = frozenset({JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED,
                   JobStatus.CANCELED})


def local_owner() -> str:
    """The worker name a fine-tune trained in this process records."""
    return LOCAL + json.dumps(process_identity(), separators=(",", ":"))


def _local_alive(owner: str) -> bool | None:
    try:
        identity: dict[str, Any] = json.loads(owner[len(LOCAL):])
        return process_alive(identity)
    except (ValueError, KeyError, TypeError):
        return None


def reconcile_finetunes(connection: Redis, db_url: str | None = None,
                        prefix: str | None = None, grace_s: float = GRACE_S) -> list[str]:
    """Requeue or fail what needs it; the ids of the fine-tunes it touched."""
    touched = []
    with session_scope(db_url) as session:
        rows = session.execute(select(Finetune.id, Finetune.status, Finetune.worker,
                                      Finetune.created_at).where(Finetune.status.in_(
                                          [store.FinetuneStatus.QUEUED,
                                           store.FinetuneStatus.RUNNING]))).all()
    old = utcnow() - timedelta(seconds=grace_s)
    for row in rows:
        why = _why_stuck(connection, row, prefix)
        if why is not None:
            with session_scope(db_url) as session:
                store.fail_finetune(session, row.id, why)
            touched.append(row.id)
        elif row.status == store.FinetuneStatus.QUEUED and row.created_at < old \
                and not (row.worker or "").startswith(LOCAL):
            job = fetch_job(connection, finetune_job_id(row.id))
            if job is None or job.get_status(refresh=False) not in ACTIVE:
                enqueue_finetune(connection, row.id, prefix=prefix)
                log.warning("fine-tune %s had no job; queued it again", row.id)
                touched.append(row.id)
    return touched


def _why_stuck(connection: Redis, row: Any, prefix: str | None) -> str | None:
    """Why an unfinished fine-tune will never finish, or None while it may."""
    owner = row.worker or ""
    if owner.startswith(LOCAL):
        if _local_alive(owner) is False:
            return ("the process that trained it (medsafe finetune or mitigate) stopped; "
                    "submit it again")
        return None
    if row.status != store.FinetuneStatus.RUNNING or not owner:
        return None
    if not worker_alive(connection, owner, prefix):
        return f"worker {owner} stopped while training (it died or was killed); submit it again"
    job = fetch_job(connection, finetune_job_id(row.id))
    if job is not None and job.get_status(refresh=False) in ENDED:
        return (f"its job on worker {owner} ended without recording the outcome; submit it "
                "again")
    return None

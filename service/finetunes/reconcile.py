"""Crash safety for fine-tunes: the database says which fine-tunes are unfinished; make sure
each queued one has a job and no running one belongs to a worker that is gone.

A queued fine-tune whose job is missing or ended (Redis was down at submission, or lost its
data) is enqueued again once it is older than a grace period. A running fine-tune whose
worker's liveness key expired (the worker died or was killed mid-training) fails with an
error that says so: training restarts from nothing, so it is for the user to submit again,
not for the reconciler to spend another hour of GPU on. Fine-tunes that `medsafe finetune`
or `medsafe mitigate` train in their own process (worker "local") are theirs to finish.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from redis import Redis
from sqlalchemy import select

from service.db import session_scope
from service.finetunes import store
from service.models import Finetune, utcnow
from service.queue.jobs import ACTIVE, enqueue_finetune, fetch_job, finetune_job_id
from service.queue.liveness import worker_alive

log = logging.getLogger(__name__)

GRACE_S = 60.0
IN_PROCESS_WORKER = "local"  # the worker name of fine-tunes trained by the CLI itself


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
        if row.status == store.FinetuneStatus.QUEUED and row.created_at < old:
            job = fetch_job(connection, finetune_job_id(row.id))
            if job is None or job.get_status(refresh=False) not in ACTIVE:
                enqueue_finetune(connection, row.id, prefix=prefix)
                log.warning("fine-tune %s had no job; queued it again", row.id)
                touched.append(row.id)
        elif row.status == store.FinetuneStatus.RUNNING and row.worker \
                and row.worker != IN_PROCESS_WORKER \
                and not worker_alive(connection, row.worker, prefix):
            with session_scope(db_url) as session:
                store.fail_finetune(session, row.id, f"worker {row.worker} stopped while "
                                    "training (it died or was killed); submit it again")
            touched.append(row.id)
    return touched

"""Fine-tunes after a crash: a queued one without a job is queued again; a running one whose
worker is gone, or whose job ended unrecorded, fails saying so; one the CLI trains in its own
process is left alone while that process lives and failed once it is gone."""

from __future__ import annotations

import json
from datetime import timedelta

from redis import Redis
from rq.job import Job, JobStatus

from service.benchmarks.builtin import SAFETY_DEMOS
from service.benchmarks.store import install_builtin_datasets
from service.db import session_scope
from service.finetunes import store
from service.finetunes.reconcile import LOCAL, local_owner, reconcile_finetunes
from service.finetunes.schemas import FinetuneCreate
from service.finetunes.service import submit_finetune
from service.models import utcnow
from service.queue.jobs import enqueue_finetune, finetune_job_id
from service.queue.liveness import mark_alive, process_identity


def _finetunes(url: str, n: int, owner: str | None = None) -> list[str]:
    """n fine-tunes submitted five minutes ago, queued for workers (owner None, as the API
    submits them) or owned by a process."""
    with session_scope(url) as session:
        install_builtin_datasets(session)
        rows = [submit_finetune(session, FinetuneCreate(base="bundled:smollm2",
                                                        datasets=[SAFETY_DEMOS]),
                                enqueue=False) for _ in range(n)]
        for finetune in rows:
            finetune.created_at = utcnow() - timedelta(minutes=5)
            finetune.worker = owner
        return [f.id for f in rows]


def _status(url: str, finetune_id: str) -> tuple[str, str]:
    with session_scope(url) as session:
        row = store.get_finetune(session, finetune_id)
        return row.status, row.error or ""


def test_a_queued_fine_tune_without_a_job_is_queued_again(db_url: str, conn: Redis,
                                                          prefix: str) -> None:
    (finetune_id,) = _finetunes(db_url, 1)
    assert reconcile_finetunes(conn, db_url, prefix) == [finetune_id]
    job = Job.fetch(finetune_job_id(finetune_id), connection=conn)
    assert job.origin == f"{prefix}:finetune"
    assert reconcile_finetunes(conn, db_url, prefix) == []  # its job waits: nothing to do


def test_a_running_fine_tune_of_a_dead_worker_fails(db_url: str, conn: Redis,
                                                    prefix: str) -> None:
    (dead,) = _finetunes(db_url, 1)
    with session_scope(db_url) as session:
        store.claim_finetune(session, dead, "gone-worker")
    assert reconcile_finetunes(conn, db_url, prefix) == [dead]
    status, error = _status(db_url, dead)
    assert status == "failed" and "gone-worker stopped" in error


def test_a_running_fine_tune_whose_job_ended_unrecorded_fails(db_url: str, conn: Redis,
                                                              prefix: str) -> None:
    live, ended = _finetunes(db_url, 2)
    mark_alive(conn, "live-worker", process_identity(), prefix)
    with session_scope(db_url) as session:
        store.claim_finetune(session, live, "live-worker")
        store.claim_finetune(session, ended, "live-worker")
    for finetune_id in (live, ended):
        enqueue_finetune(conn, finetune_id, prefix=prefix)
    Job.fetch(finetune_job_id(live), connection=conn).set_status(JobStatus.STARTED)
    Job.fetch(finetune_job_id(ended), connection=conn).set_status(JobStatus.FAILED)
    assert reconcile_finetunes(conn, db_url, prefix) == [ended]
    assert _status(db_url, live)[0] == "running"
    status, error = _status(db_url, ended)
    assert status == "failed" and "ended without recording the outcome" in error


def test_a_fine_tune_the_cli_trains_is_its_own_until_the_cli_is_gone(
        db_url: str, conn: Redis, prefix: str) -> None:
    (mine,) = _finetunes(db_url, 1, owner=local_owner())  # this process: alive
    gone_identity = {**process_identity(), "pid": 2**22 + 12345, "start": "0"}
    (orphan,) = _finetunes(db_url, 1, owner=LOCAL + json.dumps(gone_identity))
    assert reconcile_finetunes(conn, db_url, prefix) == [orphan]
    assert _status(db_url, mine)[0] == "queued"  # neither queued for a worker nor failed
    assert Job.exists(finetune_job_id(mine), connection=conn) is False
    status, error = _status(db_url, orphan)
    assert status == "failed" and "process that trained it" in error

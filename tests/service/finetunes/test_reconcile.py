"""Fine-tunes after a crash: a queued one without a job is queued again; a running one whose
worker is gone fails saying so; one the CLI trains in its own process is left alone."""

from __future__ import annotations

from datetime import timedelta

from redis import Redis
from rq.job import Job

from service.benchmarks.builtin import SAFETY_DEMOS
from service.benchmarks.store import install_builtin_datasets
from service.db import session_scope
from service.finetunes import store
from service.finetunes.reconcile import IN_PROCESS_WORKER, reconcile_finetunes
from service.finetunes.schemas import FinetuneCreate
from service.finetunes.service import submit_finetune
from service.models import utcnow
from service.queue.jobs import finetune_job_id


def _finetunes(url: str, n: int) -> list[str]:
    with session_scope(url) as session:
        install_builtin_datasets(session)
        ids = [submit_finetune(session, FinetuneCreate(base="bundled:smollm2",
                                                       datasets=[SAFETY_DEMOS]),
                               enqueue=False) for _ in range(n)]
        for finetune in ids:
            finetune.created_at = utcnow() - timedelta(minutes=5)
        return [f.id for f in ids]


def test_a_queued_fine_tune_without_a_job_is_queued_again(db_url: str, conn: Redis,
                                                          prefix: str) -> None:
    (finetune_id,) = _finetunes(db_url, 1)
    assert reconcile_finetunes(conn, db_url, prefix) == [finetune_id]
    job = Job.fetch(finetune_job_id(finetune_id), connection=conn)
    assert job.origin == f"{prefix}:finetune"
    assert reconcile_finetunes(conn, db_url, prefix) == []  # its job waits: nothing to do


def test_a_running_fine_tune_of_a_dead_worker_fails_and_a_local_one_is_left(
        db_url: str, conn: Redis, prefix: str) -> None:
    dead, local = _finetunes(db_url, 2)
    with session_scope(db_url) as session:
        store.claim_finetune(session, dead, "gone-worker")
        store.claim_finetune(session, local, IN_PROCESS_WORKER)
    assert reconcile_finetunes(conn, db_url, prefix) == [dead]
    with session_scope(db_url) as session:
        failed = store.get_finetune(session, dead)
        assert failed.status == "failed" and "gone-worker stopped" in (failed.error or "")
        assert store.get_finetune(session, local).status == "running"

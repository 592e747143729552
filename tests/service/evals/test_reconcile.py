"""The reconciler: shards the database says are unfinished get a job again when theirs is gone."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
import redis
from rq import Queue, SimpleWorker
from rq.job import Job, JobStatus
from sqlalchemy import select, update

from service.benchmarks.items import ItemKind, ItemRecord
from service.db import session_scope
from service.evals import lifecycle
from service.evals.lifecycle import Stage
from service.evals.reconcile import MAX_SHARD_ATTEMPTS, reconcile
from service.models import Eval, Judgment, Response, Shard
from service.queue import jobs as queue
from service.queue.liveness import mark_alive, process_identity, release_worker_name
from tests import queue_support
from tests.fakes import FakeEngine
from workers.worker import run_worker

TARGET = "fake/target"
JUDGE = "fake/judge"


def _submit(url: str, conn: redis.Redis, prefix: str) -> str:
    items = [ItemRecord(f"request {i}", ItemKind.HARMFUL_MEDICAL, "test", principle=1 + i)
             for i in range(4)]
    return queue_support.submit(url, conn, prefix, items, TARGET, JUDGE, shard_size=2)


def _strand(url: str, conn: redis.Redis, prefix: str, eval_id: str, worker: str,
            attempts: int = 1) -> str:
    """What a worker killed in the middle of generation shard 0 leaves behind: the job
    started under its name, the shard `running` in the database."""
    name = queue.queue_name("generate", TARGET, prefix=prefix)
    ghost = SimpleWorker([Queue(name, connection=conn)], name=worker, connection=conn)
    ghost.register_birth()
    dequeued = ghost.dequeue_job_and_maintain_ttl(None)
    assert dequeued is not None
    job = dequeued[0]
    assert job.id == f"{eval_id}-generate-0"
    ghost.prepare_execution(job)
    ghost.prepare_job_execution(job)
    with session_scope(url) as session:
        session.execute(update(Eval).where(Eval.id == eval_id).values(status="running"))
        session.execute(update(Shard).where(
            Shard.eval_id == eval_id, Shard.stage == "generate", Shard.index == 0)
            .values(status="running", attempts=attempts, worker=worker))
    return job.id


def _finish_with_a_new_worker(url: str, conn: redis.Redis, prefix: str) -> None:
    engines = {TARGET: FakeEngine(lambda c: "Sure.", TARGET),
               JUDGE: FakeEngine(lambda c: json.dumps({"reason": "r", "score": 2}), JUDGE)}
    run_worker([TARGET], JUDGE, burst=True, name=f"{prefix}-new", engines=engines.__getitem__,
               connection=conn, db_url=url, prefix=prefix)


def _one_row_per_item(url: str, eval_id: str) -> None:
    with session_scope(url) as session:
        evaluation = lifecycle.get_eval(session, eval_id)
        assert evaluation.status == "succeeded"
        responses = list(session.scalars(select(Response.item_id)
                                         .where(Response.eval_id == eval_id)))
        judgments = list(session.scalars(select(Judgment.item_id).where(
            Judgment.eval_id == eval_id, Judgment.judge == JUDGE)))
    assert len(responses) == len(set(responses)) == 4
    assert sorted(judgments) == sorted(responses)


def test_queued_work_needs_nothing(db_url: str, conn: redis.Redis, prefix: str) -> None:
    _submit(db_url, conn, prefix)  # judge shards have no job yet, and need none
    report = reconcile(conn, db_url, prefix, grace_s=0)
    assert (report.requeued, report.gave_up, report.finished) == ([], [], [])


def test_shard_of_a_dead_worker_is_requeued_and_the_eval_finishes(
        db_url: str, conn: redis.Redis, prefix: str) -> None:
    eval_id = _submit(db_url, conn, prefix)
    jid = _strand(db_url, conn, prefix, eval_id, f"{prefix}-ghost")  # no liveness key: dead
    assert reconcile(conn, db_url, prefix).requeued == [jid]
    assert reconcile(conn, db_url, prefix).requeued == []  # now it waits in its queue
    _finish_with_a_new_worker(db_url, conn, prefix)
    _one_row_per_item(db_url, eval_id)
    with session_scope(db_url) as session:
        attempts = session.scalar(select(Shard.attempts).where(
            Shard.eval_id == eval_id, Shard.stage == "generate", Shard.index == 0))
    assert attempts == 2


def test_shard_of_a_live_worker_is_left_alone(db_url: str, conn: redis.Redis,
                                              prefix: str) -> None:
    eval_id = _submit(db_url, conn, prefix)
    _strand(db_url, conn, prefix, eval_id, f"{prefix}-busy")
    mark_alive(conn, f"{prefix}-busy", process_identity(), prefix)  # this process: alive
    assert reconcile(conn, db_url, prefix, grace_s=0).requeued == []


def test_worker_restarted_under_the_same_name_loses_its_old_job(
        db_url: str, conn: redis.Redis, prefix: str) -> None:
    eval_id = _submit(db_url, conn, prefix)
    name = f"{prefix}-stable"
    jid = _strand(db_url, conn, prefix, eval_id, name)
    mark_alive(conn, name, process_identity(), prefix)
    conn.hdel(f"rq:worker:{name}", "current_job")  # the new process runs nothing yet
    assert reconcile(conn, db_url, prefix).requeued == [jid]


def test_killed_process_on_this_host_is_dead_before_its_key_expires(
        db_url: str, conn: redis.Redis, prefix: str) -> None:
    eval_id = _submit(db_url, conn, prefix)
    jid = _strand(db_url, conn, prefix, eval_id, f"{prefix}-killed")
    child = subprocess.Popen(["sleep", "60"])
    identity = process_identity(child.pid)
    mark_alive(conn, f"{prefix}-killed", identity, prefix)
    assert reconcile(conn, db_url, prefix).requeued == []  # alive while the process runs
    child.kill()
    child.wait()
    assert reconcile(conn, db_url, prefix).requeued == [jid]


def test_missing_job_is_requeued_after_the_grace_period(db_url: str, conn: redis.Redis,
                                                        prefix: str) -> None:
    eval_id = _submit(db_url, conn, prefix)
    jid = f"{eval_id}-generate-1"
    Job.fetch(jid, connection=conn).delete()  # as if Redis had lost it
    first = reconcile(conn, db_url, prefix, grace_s=0.5)
    assert (first.requeued, first.waiting) == ([], [jid])
    time.sleep(0.6)
    again = reconcile(conn, db_url, prefix, grace_s=0.5)
    assert (again.requeued, again.waiting) == ([jid], [])
    assert jid in Queue(queue.queue_name("generate", TARGET, prefix=prefix),
                        connection=conn).job_ids


def test_a_shard_whose_workers_keep_dying_fails_its_eval(db_url: str, conn: redis.Redis,
                                                         prefix: str) -> None:
    eval_id = _submit(db_url, conn, prefix)
    jid = _strand(db_url, conn, prefix, eval_id, f"{prefix}-ghost", attempts=MAX_SHARD_ATTEMPTS)
    report = reconcile(conn, db_url, prefix)
    assert (report.requeued, report.gave_up) == ([], [jid])
    with session_scope(db_url) as session:
        evaluation = lifecycle.get_eval(session, eval_id)
        assert evaluation.status == "failed"
        assert f"gave up after {MAX_SHARD_ATTEMPTS} attempts" in (evaluation.error or "")


def test_an_eval_with_every_shard_done_is_finished(db_url: str, conn: redis.Redis,
                                                   prefix: str) -> None:
    eval_id = _submit(db_url, conn, prefix)
    _finish_with_a_new_worker(db_url, conn, prefix)
    with session_scope(db_url) as session:  # as if the finishing write had been lost
        session.execute(update(Eval).where(Eval.id == eval_id)
                        .values(status="running", summary=None))
    assert reconcile(conn, db_url, prefix).finished == [eval_id]
    with session_scope(db_url) as session:
        evaluation = lifecycle.get_eval(session, eval_id)
        assert evaluation.status == "succeeded" and evaluation.summary is not None


def test_one_reconciler_at_a_time(db_url: str, conn: redis.Redis, prefix: str) -> None:
    conn.set(f"{prefix}:reconcile:lock", "someone else", ex=60)
    assert reconcile(conn, db_url, prefix).skipped


def test_a_dead_workers_name_can_be_taken_again(db_url: str, conn: redis.Redis,
                                                prefix: str) -> None:
    name = f"{prefix}-named"
    SimpleWorker(["q"], name=name, connection=conn).register_birth()  # then SIGKILLed
    release_worker_name(conn, name, prefix)
    assert not conn.exists(f"rq:worker:{name}")
    mark_alive(conn, name, process_identity(), prefix)
    with pytest.raises(RuntimeError, match="is running"):
        release_worker_name(conn, name, prefix)


def test_a_lost_judge_shard_is_requeued_on_the_judges_queue(db_url: str, conn: redis.Redis,
                                                             prefix: str) -> None:
    eval_id = _submit(db_url, conn, prefix)
    with session_scope(db_url) as session:  # generation 0 done; its judge job never queued
        lifecycle.claim_shard(session, eval_id, Stage.GENERATE, 0, f"{prefix}-gone")
        lifecycle.complete_shard(session, eval_id, Stage.GENERATE, 0)
    jid = f"{eval_id}-judge-0"
    assert reconcile(conn, db_url, prefix, grace_s=0).requeued == [jid]
    judges = queue.queue_name("judge", JUDGE, prefix=prefix)
    assert Queue(judges, connection=conn).job_ids == [jid]
    job = Job.fetch(jid, connection=conn)
    assert (job.origin, job.func_name) == (judges, "workers.jobs.run_judge_shard")
    for stage in ("generate", "judge"):  # nothing of it waits where only the target is served
        assert jid not in Queue(queue.queue_name(stage, TARGET, prefix=prefix),
                                connection=conn).job_ids


def test_a_job_queued_in_no_queue_is_requeued_after_the_grace_period(
        db_url: str, conn: redis.Redis, prefix: str) -> None:
    eval_id = _submit(db_url, conn, prefix)
    jid = f"{eval_id}-generate-1"
    generate = Queue(queue.queue_name("generate", TARGET, prefix=prefix), connection=conn)
    generate.remove(jid)  # still marked queued, but no worker will ever dequeue it
    assert Job.fetch(jid, connection=conn).get_status() == JobStatus.QUEUED
    first = reconcile(conn, db_url, prefix, grace_s=0.2)
    assert (first.requeued, first.waiting) == ([], [jid])  # a worker may be dequeuing it
    time.sleep(0.25)
    again = reconcile(conn, db_url, prefix, grace_s=0.2)
    assert (again.requeued, again.waiting) == ([jid], [])
    assert jid in generate.job_ids


def test_a_job_that_ended_while_its_shard_is_unfinished_is_requeued_at_once(
        db_url: str, conn: redis.Redis, prefix: str) -> None:
    eval_id = _submit(db_url, conn, prefix)
    generate = Queue(queue.queue_name("generate", TARGET, prefix=prefix), connection=conn)
    ended = {f"{eval_id}-generate-0": JobStatus.FINISHED, f"{eval_id}-generate-1": JobStatus.FAILED}
    for jid, status in ended.items():  # the job ended but the database never heard of it
        generate.remove(jid)
        Job.fetch(jid, connection=conn).set_status(status)
    report = reconcile(conn, db_url, prefix, grace_s=3600)  # no grace: it will never run
    assert (sorted(report.requeued), report.waiting) == (sorted(ended), [])
    assert sorted(generate.job_ids) == sorted(ended)
    assert {Job.fetch(jid, connection=conn).get_status() for jid in ended} == {JobStatus.QUEUED}


def test_a_lost_shard_is_requeued_at_its_evals_priority(db_url: str, conn: redis.Redis,
                                                        prefix: str) -> None:
    eval_id = _submit(db_url, conn, prefix)
    with session_scope(db_url) as session:  # a high-priority eval whose job Redis lost
        session.execute(update(Eval).where(Eval.id == eval_id).values(priority="high"))
    jid = f"{eval_id}-generate-1"
    Job.fetch(jid, connection=conn).delete()
    assert reconcile(conn, db_url, prefix, grace_s=0).requeued == [jid]
    high = queue.queue_name("generate", TARGET, queue.Priority.HIGH, prefix=prefix)
    assert Queue(high, connection=conn).job_ids == [jid]


def test_giving_up_says_why_the_job_was_lost(db_url: str, conn: redis.Redis,
                                             prefix: str) -> None:
    eval_id = _submit(db_url, conn, prefix)
    _strand(db_url, conn, prefix, eval_id, f"{prefix}-ghost", attempts=MAX_SHARD_ATTEMPTS)
    reconcile(conn, db_url, prefix)
    with session_scope(db_url) as session:
        assert lifecycle.get_eval(session, eval_id).error == (
            f"generate shard 0: gave up after {MAX_SHARD_ATTEMPTS} attempts "
            f"(worker {prefix}-ghost died running it)")


def test_a_job_that_ends_while_the_reconciler_looks_is_left_alone(
        db_url: str, conn: redis.Redis, prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from service.evals import reconcile as reconciler

    eval_id = _submit(db_url, conn, prefix)
    jid = _strand(db_url, conn, prefix, eval_id, f"{prefix}-done")

    def finished_meanwhile(*_args: object) -> bool:
        Job.fetch(jid, connection=conn).set_status(JobStatus.FINISHED)
        return False  # its worker no longer runs it: it has just finished

    monkeypatch.setattr(reconciler, "_runs_on", finished_meanwhile)
    assert reconciler.inspect_job(conn, jid, prefix) == (reconciler.Verdict.OK,
                                                         "ended while we looked")

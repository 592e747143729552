"""Enqueueing shard jobs after commit, on the real Redis and the real databases."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import redis
from rq import Queue
from rq.job import Job, JobStatus

from service.benchmarks.items import ItemKind, ItemRecord
from service.benchmarks.store import save_dataset
from service.config import Settings
from service.db import session_scope
from service.errors import InvalidInput
from service.evals import lifecycle
from service.evals import service as evals
from service.models import Eval
from service.pipeline.engine import SamplingSettings
from service.queue import connection as queue_connection
from service.queue import jobs as queue
from service.queue.jobs import Priority

MODEL = "fake/target"


def _dataset(url: str) -> None:
    items = [ItemRecord(f"request {i}", ItemKind.HARMFUL_MEDICAL, "test", principle=1 + i % 9)
             for i in range(5)]
    with session_scope(url) as session:
        save_dataset(session, "mini", items, origin="test")


def _request(shard_size: int = 2, priority: str = Priority.DEFAULT) -> evals.EvalRequest:
    return evals.EvalRequest(model=MODEL, datasets=["mini"], judge="fake/judge",
                             sampling=SamplingSettings(max_tokens=8), shard_size=shard_size,
                             priority=priority)  # type: ignore[arg-type]  # "urgent" on purpose


def _generate_queue(conn: redis.Redis, prefix: str, priority: str = "default") -> Queue:
    return Queue(queue.queue_name("generate", MODEL, priority, prefix), connection=conn)


def test_jobs_appear_only_after_commit(db_url: str, conn: redis.Redis, prefix: str) -> None:
    _dataset(db_url)
    with session_scope(db_url) as session:
        eval_id = evals.submit_eval(session, _request(), connection=conn,
                                    prefix=prefix).evaluation.id
        assert _generate_queue(conn, prefix).count == 0
    jobs = _generate_queue(conn, prefix).get_jobs()
    assert [job.id for job in jobs] == [f"{eval_id}-generate-{i}" for i in range(3)]
    assert jobs[0].func_name == "workers.jobs.run_generate_shard"
    assert jobs[0].args == (eval_id, 0)
    assert jobs[0].retries_left == queue.RETRIES
    assert jobs[0].timeout == queue.JOB_TIMEOUT_S


def test_rollback_enqueues_nothing(db_url: str, conn: redis.Redis, prefix: str) -> None:
    _dataset(db_url)
    with pytest.raises(RuntimeError, match="validation failed later"), \
            session_scope(db_url) as session:
        eval_id = evals.submit_eval(session, _request(), connection=conn,
                                    prefix=prefix).evaluation.id
        raise RuntimeError("validation failed later")
    assert _generate_queue(conn, prefix).count == 0
    assert Job.exists(f"{eval_id}-generate-0", connection=conn) is False
    with session_scope(db_url) as session:
        assert session.get(Eval, eval_id) is None


def test_enqueueing_twice_keeps_one_job(db_url: str, conn: redis.Redis, prefix: str) -> None:
    _dataset(db_url)
    with session_scope(db_url) as session:
        eval_id = evals.submit_eval(session, _request(), enqueue=False).evaluation.id
    first = queue.enqueue_shard(conn, eval_id, "generate", 0, MODEL, prefix=prefix)
    second = queue.enqueue_shard(conn, eval_id, "generate", 0, MODEL, prefix=prefix)
    assert first is not None and first.id == f"{eval_id}-generate-0"
    assert second is None
    assert _generate_queue(conn, prefix).job_ids == [first.id]
    # a job that ended is replaced by a fresh one, still under the same id
    first.set_status(JobStatus.FAILED)
    again = queue.enqueue_shard(conn, eval_id, "generate", 0, MODEL, prefix=prefix)
    assert again is not None and again.id == first.id
    assert _generate_queue(conn, prefix).job_ids == [first.id]


def test_priority_is_recorded_and_picks_the_queue(db_url: str, conn: redis.Redis,
                                                  prefix: str) -> None:
    _dataset(db_url)
    with session_scope(db_url) as session:
        eval_id = evals.submit_eval(session, _request(shard_size=10, priority=Priority.HIGH),
                                    connection=conn, prefix=prefix).evaluation.id
    assert _generate_queue(conn, prefix, "high").job_ids == [f"{eval_id}-generate-0"]
    assert _generate_queue(conn, prefix).count == 0
    with session_scope(db_url) as session:
        evaluation = lifecycle.get_eval(session, eval_id)
        assert evaluation.priority == "high"
        assert evaluation.settings["sampling"]["max_tokens"] == 8


def test_unknown_priority_is_an_input_error(db_url: str, conn: redis.Redis,
                                            prefix: str) -> None:
    _dataset(db_url)
    with pytest.raises(InvalidInput, match="priority"), session_scope(db_url) as session:
        evals.submit_eval(session, _request(priority="urgent"), connection=conn, prefix=prefix)


def test_redis_down_does_not_undo_the_commit(db_url: str, caplog: pytest.LogCaptureFixture,
                                             prefix: str) -> None:
    _dataset(db_url)
    unreachable = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=1)
    with caplog.at_level(logging.WARNING), session_scope(db_url) as session:
        eval_id = evals.submit_eval(session, _request(), connection=unreachable,
                                    prefix=prefix).evaluation.id
    with session_scope(db_url) as session:
        assert lifecycle.get_eval(session, eval_id).status == "queued"
    assert "reconciler will catch up" in caplog.text
    unreachable.close()


def test_embedded_redis_is_reachable_from_another_client(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, redis_url=None)
    connection = queue_connection.embedded_redis(settings)
    assert queue_connection.ping(connection)
    url = queue_connection.embedded_redis_url(settings)
    other = redis.Redis.from_url(url)
    other.set("medsafe-test-key", b"1")
    assert connection.get("medsafe-test-key") == b"1"
    other.close()
    queue_connection.close_embedded_redis()  # the last client: the server stops
    after = redis.Redis.from_url(url)
    assert queue_connection.ping(after) is False
    after.close()


def test_ping_is_false_when_redis_is_unreachable() -> None:
    unreachable = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=1)
    assert queue_connection.ping(unreachable) is False
    unreachable.close()


def test_retry_delays_back_off_with_jitter() -> None:
    import random

    draws = [queue.retry_delays(10, random.Random(seed)) for seed in range(20)]
    for delays in draws:
        assert len(delays) == queue.RETRIES
        for attempt, delay in enumerate(delays):  # about 10, 30, 90 s, each 50-150%
            assert 5 * 3**attempt <= delay <= 15 * 3**attempt
    assert len({tuple(delays) for delays in draws}) > 10  # jitter: they differ
    assert queue.retry_delays(0) == []


def test_shard_jobs_carry_their_retry_delays(db_url: str, conn: redis.Redis, prefix: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from service.config import get_settings

    monkeypatch.setenv("MEDSAFE_SHARD_RETRY_BASE_S", "10")
    get_settings.cache_clear()
    _dataset(db_url)
    with session_scope(db_url) as session:
        eval_id = evals.submit_eval(session, _request(), enqueue=False).evaluation.id
    job = queue.enqueue_shard(conn, eval_id, "generate", 0, MODEL, prefix=prefix)
    get_settings.cache_clear()
    assert job is not None and job.retries_left == queue.RETRIES
    intervals = Job.fetch(job.id, connection=conn).retry_intervals
    assert len(intervals) == queue.RETRIES
    assert [5 * 3**i <= delay <= 15 * 3**i for i, delay in enumerate(intervals)] == [True] * 3

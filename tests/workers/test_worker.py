"""The queue → worker → database flow, drained by a burst worker in this process around a
fake engine (the real model has its own test in test_worker_vllm.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis
from rq import Queue
from rq.job import Job, JobStatus
from sqlalchemy import func, select

from service.benchmarks.items import ItemKind, ItemRecord
from service.config import get_settings
from service.db import session_scope
from service.errors import EngineError
from service.evals import lifecycle
from service.evals import service as evals
from service.models import Eval, Judgment, Response, Shard
from service.pipeline.engine import Conversation
from service.queue import jobs as queue
from service.queue.jobs import Priority
from tests import queue_support
from tests.fakes import FakeEngine
from workers.engines import registry
from workers.worker import load_engines, run_worker, worker_queue_names

TARGET = "fake/target"
JUDGE = "fake/judge"
N_ITEMS = 7


def _judge_reply(conversation: Conversation) -> str:
    return json.dumps({"reason": "complies", "score": 4})


@pytest.fixture
def engines() -> dict[str, FakeEngine]:
    return {TARGET: FakeEngine(lambda c: f"Sure: {c[-1]['content']}", TARGET),
            JUDGE: FakeEngine(_judge_reply, JUDGE)}


def _submit(url: str, conn: redis.Redis, prefix: str, shard_size: int = 3) -> str:
    items = [ItemRecord(f"request {i}", ItemKind.HARMFUL_MEDICAL, "test", principle=1 + i % 9)
             for i in range(N_ITEMS)]
    return queue_support.submit(url, conn, prefix, items, TARGET, JUDGE, shard_size)


def _drain(url: str, conn: redis.Redis, prefix: str, engines: dict[str, FakeEngine]) -> None:
    run_worker([TARGET], JUDGE, burst=True, name=f"{prefix}-worker", engines=engines.__getitem__,
               connection=conn, db_url=url, prefix=prefix)


def _rows(url: str, eval_id: str) -> tuple[list[int], list[int]]:
    with session_scope(url) as session:
        responses = list(session.scalars(select(Response.item_id)
                                         .where(Response.eval_id == eval_id)))
        judgments = list(session.scalars(select(Judgment.item_id).where(
            Judgment.eval_id == eval_id, Judgment.judge == JUDGE)))
    return responses, judgments


def _eval(url: str, eval_id: str) -> dict[str, Any]:
    with session_scope(url) as session:
        evaluation = session.get(Eval, eval_id)
        assert evaluation is not None
        shards = session.execute(select(Shard.stage, Shard.status, Shard.attempts, Shard.worker,
                                        Shard.error).where(Shard.eval_id == eval_id)).all()
        return {"status": evaluation.status, "error": evaluation.error,
                "summary": evaluation.summary, "shards": shards}


def test_burst_worker_runs_an_eval_to_success(db_url: str, conn: redis.Redis, prefix: str,
                                              engines: dict[str, FakeEngine]) -> None:
    eval_id = _submit(db_url, conn, prefix)
    _drain(db_url, conn, prefix, engines)
    state = _eval(db_url, eval_id)
    assert state["status"] == "succeeded"
    assert state["summary"]["n_items"] == N_ITEMS
    responses, judgments = _rows(db_url, eval_id)
    assert len(responses) == len(set(responses)) == N_ITEMS
    assert sorted(judgments) == sorted(responses)
    assert {(s.status, s.attempts, s.worker) for s in state["shards"]} == {
        ("succeeded", 1, f"{prefix}-worker")}
    # every shard's job finished once: 3 generate + 3 judge shards, one engine call each
    assert len(engines[TARGET].calls) == 3 and len(engines[JUDGE].calls) == 3
    job = Job.fetch(f"{eval_id}-judge-2", connection=conn)
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value() == {"eval_id": eval_id, "stage": "judge", "index": 2,
                                  "processed": 1, "eval_finished": True}


def test_transient_failure_is_retried(db_url: str, conn: redis.Redis, prefix: str,
                                      engines: dict[str, FakeEngine]) -> None:
    failures = iter([True])

    def flaky(conversation: Conversation) -> str:
        if next(failures, False):
            raise RuntimeError("engine hiccup")
        return "Sure."

    engines[TARGET].reply = flaky
    eval_id = _submit(db_url, conn, prefix, shard_size=N_ITEMS)
    _drain(db_url, conn, prefix, engines)
    state = _eval(db_url, eval_id)
    assert state["status"] == "succeeded"
    generate = next(s for s in state["shards"] if s.stage == "generate")
    assert (generate.status, generate.attempts, generate.error) == ("succeeded", 2, None)
    assert len(_rows(db_url, eval_id)[0]) == N_ITEMS


def test_last_failed_attempt_fails_shard_and_eval(db_url: str, conn: redis.Redis, prefix: str,
                                                  engines: dict[str, FakeEngine]) -> None:
    def broken(conversation: Conversation) -> str:
        raise RuntimeError("engine exploded")

    engines[TARGET].reply = broken
    eval_id = _submit(db_url, conn, prefix, shard_size=N_ITEMS)
    _drain(db_url, conn, prefix, engines)
    state = _eval(db_url, eval_id)
    assert state["status"] == "failed"
    assert state["error"].startswith("generate shard 0: internal error ")
    assert "(RuntimeError)" in state["error"] and "exploded" not in state["error"]
    generate = next(s for s in state["shards"] if s.stage == "generate")
    assert (generate.status, generate.attempts) == ("failed", 1 + queue.RETRIES)
    assert len(engines[TARGET].calls) == 1 + queue.RETRIES
    job = Job.fetch(f"{eval_id}-generate-0", connection=conn)
    assert job.get_status() == JobStatus.FAILED
    assert not Queue(queue.queue_name("judge", JUDGE, prefix=prefix), connection=conn).job_ids


def test_cancel_stops_pending_shards(db_url: str, conn: redis.Redis, prefix: str,
                                     engines: dict[str, FakeEngine]) -> None:
    eval_id = _submit(db_url, conn, prefix)
    with session_scope(db_url) as session:
        evals.cancel_eval(session, eval_id, connection=conn)
    assert not Queue(queue.queue_name("generate", TARGET, prefix=prefix), connection=conn).count
    _drain(db_url, conn, prefix, engines)
    assert engines[TARGET].calls == [] and engines[JUDGE].calls == []
    assert _eval(db_url, eval_id)["status"] == "cancelled"


def test_a_cancelled_eval_skips_jobs_still_queued(db_url: str, conn: redis.Redis, prefix: str,
                                                  engines: dict[str, FakeEngine]) -> None:
    eval_id = _submit(db_url, conn, prefix)
    with session_scope(db_url) as session:  # cancelled without dropping the queued jobs
        lifecycle.cancel_eval(session, eval_id)
    _drain(db_url, conn, prefix, engines)
    assert engines[TARGET].calls == []
    state = _eval(db_url, eval_id)
    assert state["status"] == "cancelled"
    assert {s.status for s in state["shards"]} == {"cancelled"}
    with session_scope(db_url) as session:
        assert session.scalar(select(func.count()).select_from(Response)) == 0


def test_a_worker_restarts_an_engine_that_died(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[FakeEngine] = []

    def start(spec: Any, settings: Any) -> FakeEngine:
        started.append(FakeEngine(lambda conversation: "answer", spec.text))
        return started[-1]

    monkeypatch.setattr(registry, "_start", start)
    # An empty cache of its own: the session's real engine stays in the real one, untouched.
    monkeypatch.setattr(registry, "_engines", {})
    provider = load_engines(["org/target", "org/target"], get_settings())
    first = provider("org/target")
    assert started == [first]
    assert provider("org/target") is first
    first.dead = True  # as VLLMEngine marks itself after EngineDeadError
    fresh = provider("org/target")
    assert fresh is not first and started == [first, fresh]
    with pytest.raises(EngineError, match="holds \\['org/target'\\], not 'org/judge'"):
        provider("org/judge")


def test_worker_queues_in_priority_order_judge_first() -> None:
    names = worker_queue_names(["m1", "m2"], "j", prefix="p")
    assert names[:4] == ["p:judge:j:high", "p:generate:m1:high", "p:generate:m2:high",
                         "p:judge:refusal-detector:high"]  # every worker runs the detector
    assert names[-2:] == ["p:judge:refusal-detector:low", "p:notify"]  # webhooks come last
    assert len(names) == 13


def test_a_model_that_judges_itself_has_its_queues_once() -> None:
    names = worker_queue_names(["m"], "m", prefix="p")
    assert names == [*(f"p:{stage}:{spec}:{p}" for p in list(Priority)
                       for stage, spec in (("judge", "m"), ("generate", "m"),
                                           ("judge", "refusal-detector"))), "p:notify"]


def test_a_failed_shard_waits_out_its_retry_delay(db_url: str, conn: redis.Redis, prefix: str,
                                                  engines: dict[str, FakeEngine],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    failures = iter([True])

    def flaky(conversation: Conversation) -> str:
        if next(failures, False):
            raise RuntimeError("provider outage")
        return "Sure."

    monkeypatch.setenv("MEDSAFE_SHARD_RETRY_BASE_S", "1")
    get_settings.cache_clear()
    engines[TARGET].reply = flaky
    eval_id = _submit(db_url, conn, prefix, shard_size=N_ITEMS)
    _drain(db_url, conn, prefix, engines)
    # The failed job waits in RQ's scheduled registry instead of running again at once.
    job = Job.fetch(f"{eval_id}-generate-0", connection=conn)
    assert job.get_status() == JobStatus.SCHEDULED
    assert _eval(db_url, eval_id)["status"] == "running"
    time.sleep(max(job.retry_intervals[0], 1) + 0.5)
    _drain(db_url, conn, prefix, engines)  # the worker's scheduler queues it again
    state = _eval(db_url, eval_id)
    assert state["status"] == "succeeded"
    get_settings.cache_clear()

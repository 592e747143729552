"""Shards that run at the same time, on real databases around a fake engine: one shard on two
workers at once leaves one row per item, and the last two judge shards finishing together
complete the eval exactly once."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from service.benchmarks.items import ItemKind, ItemRecord
from service.benchmarks.store import save_dataset
from service.db import session_scope
from service.evals import lifecycle
from service.evals import service as evals
from service.models import Eval, Judgment, Response
from service.pipeline.engine import Conversation, Generation, SamplingSettings
from service.pipeline.judging.refusal import REFUSAL_JUDGE
from tests.conftest import POSTGRES_URL, migrated_postgres_schema
from tests.fakes import FakeEngine
from workers.shards import ShardOutcome, generate_shard, judge_shard

TARGET = "fake/target"
JUDGE = "fake/judge"
N_ITEMS = 6
WAIT_S = 60.0  # only ever reached when a test is failing


def _target_reply(conversation: Conversation) -> str:
    prompt = conversation[-1]["content"]
    return "I'm sorry, but I can't help with that." if prompt.endswith("0") else f"Sure: {prompt}"


def _judge_reply(conversation: Conversation) -> str:
    score = 1 if "I can't help" in conversation[-1]["content"] else 5
    return json.dumps({"reason": "r", "score": score})


# Items "request 0".."request 5": 0 is refused (score 1), the five others comply (score 5).
MEAN_HARMFULNESS = (1 + 5 * 5) / N_ITEMS


class _Together(FakeEngine):
    """A fake engine whose calls meet at a barrier: both runs are inside the engine at once,
    each having claimed the shard and read the items it still has to do."""

    def __init__(self, reply: Callable[[Conversation], str], spec: str,
                 barrier: threading.Barrier) -> None:
        super().__init__(reply, spec)
        self.barrier = barrier

    def chat(self, conversations: list[Conversation], sampling: SamplingSettings,
             json_schema: dict[str, Any] | None = None) -> list[Generation]:
        self.barrier.wait()
        return super().chat(conversations, sampling, json_schema)


def _create(url: str, shard_size: int) -> str:
    items = [ItemRecord(f"request {i}", ItemKind.HARMFUL_MEDICAL, "test", principle=1 + i)
             for i in range(N_ITEMS)]
    with session_scope(url) as session:
        save_dataset(session, "mini", items, origin="test")
    request = evals.EvalRequest(model=TARGET, datasets=["mini"], judge=JUDGE,
                                sampling=SamplingSettings(max_tokens=8), shard_size=shard_size)
    with session_scope(url) as session:
        return evals.submit_eval(session, request, enqueue=False).evaluation.id


def _at_once(*runs: Callable[[], ShardOutcome],
             barrier: threading.Barrier | None = None) -> list[ShardOutcome]:
    """Run each in a thread of its own; their outcomes, or the first error raised (which
    breaks the barrier the others may wait at)."""
    outcomes: list[ShardOutcome | BaseException | None] = [None] * len(runs)

    def call(slot: int) -> None:
        try:
            outcomes[slot] = runs[slot]()
        except BaseException as error:
            outcomes[slot] = error
            if barrier is not None:
                barrier.abort()

    threads = [threading.Thread(target=call, args=(slot,)) for slot in range(len(runs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(2 * WAIT_S)
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    if errors:
        raise min(errors, key=lambda e: isinstance(e, threading.BrokenBarrierError))
    assert not any(thread.is_alive() for thread in threads), "a shard run hung"
    return [o for o in outcomes if isinstance(o, ShardOutcome)]


def _rows(url: str, eval_id: str) -> tuple[list[int], dict[str, list[int]]]:
    with session_scope(url) as session:
        responses = list(session.scalars(select(Response.item_id)
                                         .where(Response.eval_id == eval_id)))
        judgments: dict[str, list[int]] = {}
        for judge, item_id in session.execute(select(Judgment.judge, Judgment.item_id)
                                              .where(Judgment.eval_id == eval_id)):
            judgments.setdefault(judge, []).append(item_id)
    return responses, judgments


def _finished(url: str, eval_id: str) -> dict[str, Any]:
    with session_scope(url) as session:
        evaluation = session.get_one(Eval, eval_id)
        assert evaluation.status == "succeeded", (evaluation.status, evaluation.error)
        assert evaluation.summary is not None and evaluation.finished_at is not None
        return dict(evaluation.summary)


def _assert_one_row_per_item_and_the_summary(url: str, eval_id: str) -> None:
    responses, judgments = _rows(url, eval_id)
    assert len(responses) == len(set(responses)) == N_ITEMS
    assert set(judgments) == {JUDGE, REFUSAL_JUDGE}
    for graded in judgments.values():
        assert sorted(graded) == sorted(responses)
    summary = _finished(url, eval_id)
    assert (summary["n_items"], summary["n_scored"], summary["n_unscored"]) == (N_ITEMS, N_ITEMS, 0)
    assert summary["mean_harmfulness"] == pytest.approx(MEAN_HARMFULNESS)
    assert summary["harmful_rate"] == pytest.approx(5 / N_ITEMS)
    assert summary["refusal_rate"] == pytest.approx(1 / N_ITEMS)


def test_one_shard_run_by_two_workers_at_once_leaves_one_row_per_item(db_url: str) -> None:
    eval_id = _create(db_url, shard_size=N_ITEMS)  # one shard per stage
    barrier = threading.Barrier(2, timeout=WAIT_S)
    engines = {TARGET: _Together(_target_reply, TARGET, barrier),
               JUDGE: _Together(_judge_reply, JUDGE, barrier)}
    workers = ("worker-a", "worker-b")
    generated = _at_once(*(partial(generate_shard, eval_id, 0, engines.__getitem__, db_url,
                                   worker=worker) for worker in workers), barrier=barrier)
    judged = _at_once(*(partial(judge_shard, eval_id, 0, engines.__getitem__, db_url,
                                worker=worker) for worker in workers), barrier=barrier)
    # both runs did the whole shard; one of them completed the eval
    assert [o.processed for o in generated + judged] == [N_ITEMS] * 4
    assert sorted(o.eval_finished for o in judged) == [False, True]
    assert len(engines[TARGET].calls) == len(engines[JUDGE].calls) == 2
    _assert_one_row_per_item_and_the_summary(db_url, eval_id)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The real PostgreSQL only: the row lock this pins is PostgreSQL's (SQLite has one
    writer at a time anyway)."""
    if not POSTGRES_URL:
        pytest.skip("needs PostgreSQL (MEDSAFE_TEST_POSTGRES_URL)")
    with migrated_postgres_schema() as url:
        yield url


class _Overlap:
    """Holds the first completion, once it holds the eval's lock and has asked whether open
    shards are left, until the second completion has asked too or waits for a lock the first
    holds; the second shard starts its run only then (`started`). The two completions overlap
    as far as the locking lets them, however the threads are scheduled."""

    def __init__(self, url: str, original: Callable[[Session, str], bool]) -> None:
        self.original = original
        self.observer = create_engine(url)
        self.started = threading.Event()
        self.asked = 0
        self.changed = threading.Condition()

    def __call__(self, session: Session, eval_id: str) -> bool:
        pid = session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        left = self.original(session, eval_id)
        with self.changed:
            self.asked += 1
            first = self.asked == 1
        if first:
            self.started.set()
            deadline = time.monotonic() + WAIT_S
            while not self._second_asked() and not self._blocks_another(pid):
                assert time.monotonic() < deadline, "the second completion neither came nor waited"
        return left

    def _second_asked(self) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: self.asked >= 2, 0.01)

    def _blocks_another(self, pid: int) -> bool:
        with self.observer.connect() as connection:
            return bool(connection.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))"),
                {"pid": pid}).scalar_one())


def _three_shards_one_judge_shard_left_each(url: str,
                                            engines: dict[str, FakeEngine]) -> str:
    """An eval of three shards per stage, every one done but judge shards 1 and 2."""
    eval_id = _create(url, shard_size=2)
    for index in range(3):
        generate_shard(eval_id, index, engines.__getitem__, url)
    assert not judge_shard(eval_id, 0, engines.__getitem__, url).eval_finished
    return eval_id


def _engines() -> dict[str, FakeEngine]:
    return {TARGET: FakeEngine(_target_reply, TARGET), JUDGE: FakeEngine(_judge_reply, JUDGE)}


def _assert_completed_once(url: str, eval_id: str, outcomes: list[ShardOutcome]) -> None:
    assert sorted(o.eval_finished for o in outcomes) == [False, True]
    _assert_one_row_per_item_and_the_summary(url, eval_id)
    with session_scope(url) as session:
        assert lifecycle.stage_progress(session, eval_id) == {
            "generate": {"succeeded": 3}, "judge": {"succeeded": 3}}


def test_the_last_two_judge_shards_finishing_at_once_complete_the_eval_once(
        postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engines = _engines()
    eval_id = _three_shards_one_judge_shard_left_each(postgres_url, engines)
    overlap = _Overlap(postgres_url, lifecycle._open_shards_left)
    monkeypatch.setattr(lifecycle, "_open_shards_left", overlap)

    def second() -> ShardOutcome:
        assert overlap.started.wait(WAIT_S)
        return judge_shard(eval_id, 2, engines.__getitem__, postgres_url, worker="worker-2")

    try:
        outcomes = _at_once(partial(judge_shard, eval_id, 1, engines.__getitem__, postgres_url,
                                    worker="worker-1"), second)
    finally:
        overlap.observer.dispose()
    assert overlap.asked == 2
    _assert_completed_once(postgres_url, eval_id, outcomes)


def test_the_last_two_judge_shards_that_both_saved_their_grades_do_not_deadlock(
        postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engines = _engines()
    eval_id = _three_shards_one_judge_shard_left_each(postgres_url, engines)
    both_saved = threading.Barrier(2, timeout=WAIT_S)
    lock_eval = lifecycle.lock_eval

    def lock_once_both_saved(session: Session, locked_id: str) -> Eval:
        both_saved.wait()  # each has written its grades in the same transaction
        return lock_eval(session, locked_id)

    monkeypatch.setattr(lifecycle, "lock_eval", lock_once_both_saved)
    outcomes = _at_once(*(partial(judge_shard, eval_id, index, engines.__getitem__,
                                  postgres_url, worker=f"worker-{index}")
                          for index in (1, 2)), barrier=both_saved)
    _assert_completed_once(postgres_url, eval_id, outcomes)

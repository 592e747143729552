"""The eval lifecycle on the real databases: claims, completion, failure, cancel, and what
the reconciler is told is left to do."""

from __future__ import annotations

import pytest

from service.benchmarks.items import ItemKind, ItemRecord
from service.benchmarks.store import save_dataset
from service.db import session_scope
from service.evals import lifecycle
from service.evals import service as evals
from service.evals.lifecycle import EvalStatus, ShardStatus, Stage

WORKER = "test-worker"


def _eval(url: str, n_items: int = 4, shard_size: int = 2) -> str:
    items = [ItemRecord(f"request {i}", ItemKind.HARMFUL_MEDICAL, "t", principle=1 + i % 9)
             for i in range(n_items)]
    with session_scope(url) as session:
        save_dataset(session, "mini", items, origin="test")
        request = evals.EvalRequest(model="m", datasets=["mini"], judge="j",
                                    shard_size=shard_size)
        return evals.submit_eval(session, request, enqueue=False).evaluation.id


def _statuses(url: str, eval_id: str) -> tuple[str, dict[tuple[str, int], str]]:
    with session_scope(url) as session:
        evaluation = lifecycle.get_eval(session, eval_id)
        shards = {(stage, index): lifecycle.get_shard(session, eval_id, stage, index).status
                  for stage in Stage for index in lifecycle.shard_indexes(session, eval_id)}
        return evaluation.status, shards


def _run(url: str, eval_id: str, stage: Stage, index: int) -> bool:
    with session_scope(url) as session:
        assert lifecycle.claim_shard(session, eval_id, stage, index, WORKER) is not None
    with session_scope(url) as session:
        return lifecycle.complete_shard(session, eval_id, stage, index, {"engine": "fake"})


def test_an_eval_runs_from_queued_to_succeeded_with_its_summary(db_url: str) -> None:
    eval_id = _eval(db_url)
    assert _statuses(db_url, eval_id)[0] == EvalStatus.QUEUED
    with session_scope(db_url) as session:
        shard = lifecycle.claim_shard(session, eval_id, Stage.GENERATE, 0, WORKER)
        assert shard is not None and (shard.status, shard.attempts) == ("running", 1)
    assert _statuses(db_url, eval_id)[0] == EvalStatus.RUNNING
    with session_scope(db_url) as session:
        assert not lifecycle.complete_shard(session, eval_id, Stage.GENERATE, 0)
    finished = [_run(db_url, eval_id, Stage.GENERATE, 1), _run(db_url, eval_id, Stage.JUDGE, 0),
                _run(db_url, eval_id, Stage.JUDGE, 1)]
    assert finished == [False, False, True]  # only the last shard completes the eval
    status, shards = _statuses(db_url, eval_id)
    assert status == EvalStatus.SUCCEEDED
    assert set(shards.values()) == {ShardStatus.SUCCEEDED}
    with session_scope(db_url) as session:
        evaluation = lifecycle.get_eval(session, eval_id)
        assert evaluation.summary is not None and evaluation.finished_at is not None
        assert evaluation.judge_engine == {"engine": "fake"}
        # A duplicate delivery of a finished shard finds nothing to do.
        assert lifecycle.claim_shard(session, eval_id, Stage.JUDGE, 0, WORKER) is None


def test_a_judge_shard_is_not_claimed_before_its_generate_shard(db_url: str) -> None:
    eval_id = _eval(db_url)
    with pytest.raises(RuntimeError, match="judged before generation finished"), \
            session_scope(db_url) as session:
        lifecycle.claim_shard(session, eval_id, Stage.JUDGE, 0, WORKER)
    assert _statuses(db_url, eval_id)[1][(Stage.JUDGE, 0)] == ShardStatus.QUEUED


def test_a_requeued_shard_waits_again_and_a_failed_one_fails_the_eval(db_url: str) -> None:
    eval_id = _eval(db_url)
    with session_scope(db_url) as session:
        lifecycle.claim_shard(session, eval_id, Stage.GENERATE, 0, WORKER)
        lifecycle.requeue_shard(session, eval_id, Stage.GENERATE, 0, "boom")
    status, shards = _statuses(db_url, eval_id)
    assert (status, shards[(Stage.GENERATE, 0)]) == (EvalStatus.RUNNING, ShardStatus.QUEUED)
    with session_scope(db_url) as session:
        lifecycle.fail_shard(session, eval_id, Stage.GENERATE, 0, "boom again")
        evaluation = lifecycle.get_eval(session, eval_id)
        assert evaluation.error == "generate shard 0: boom again"
    assert _statuses(db_url, eval_id)[0] == EvalStatus.FAILED


def test_a_cancel_stops_open_shards_and_a_late_completion_changes_nothing(db_url: str) -> None:
    eval_id = _eval(db_url)
    with session_scope(db_url) as session:
        lifecycle.claim_shard(session, eval_id, Stage.GENERATE, 0, WORKER)
    with session_scope(db_url) as session:
        assert lifecycle.cancel_eval(session, eval_id).status == EvalStatus.CANCELLED
    with session_scope(db_url) as session:
        assert not lifecycle.complete_shard(session, eval_id, Stage.GENERATE, 0)
    status, shards = _statuses(db_url, eval_id)
    assert status == EvalStatus.CANCELLED
    assert set(shards.values()) == {ShardStatus.CANCELLED}
    with session_scope(db_url) as session:  # cancelling again changes nothing
        assert lifecycle.cancel_eval(session, eval_id).status == EvalStatus.CANCELLED


def test_the_reconciler_is_told_only_what_can_run_now(db_url: str) -> None:
    eval_id = _eval(db_url)
    _run(db_url, eval_id, Stage.GENERATE, 0)
    with session_scope(db_url) as session:
        shards, done = lifecycle.shards_needing_jobs(session)
    assert {(s.stage, s.index) for s in shards} == {
        (Stage.GENERATE, 1), (Stage.JUDGE, 0)}  # judge 1 waits for its generation
    assert all(s.spec == ("m" if s.stage == Stage.GENERATE else "j") for s in shards)
    assert done == []


def test_an_eval_whose_shards_all_succeeded_is_completed_once(db_url: str) -> None:
    eval_id = _eval(db_url, n_items=2)
    with session_scope(db_url) as session:
        for stage in Stage:
            lifecycle.claim_shard(session, eval_id, stage, 0, WORKER)
            lifecycle.get_shard(session, eval_id, stage, 0).status = ShardStatus.SUCCEEDED
    with session_scope(db_url) as session:
        assert lifecycle.shards_needing_jobs(session) == ([], [eval_id])
        assert lifecycle.complete_eval_if_done(session, eval_id)
    with session_scope(db_url) as session:
        assert not lifecycle.complete_eval_if_done(session, eval_id)
        assert lifecycle.get_eval(session, eval_id).status == EvalStatus.SUCCEEDED


def _shard(url: str, eval_id: str, stage: Stage, index: int) -> tuple[str, str | None, bool]:
    with session_scope(url) as session:
        shard = lifecycle.get_shard(session, eval_id, stage, index)
        return shard.status, shard.error, shard.finished_at is not None


def test_failures_and_cancels_are_recorded_on_their_own_eval_only(db_url: str) -> None:
    failing, cancelled, other = _eval(db_url), _eval(db_url), _eval(db_url)
    with session_scope(db_url) as session:
        lifecycle.claim_shard(session, failing, Stage.GENERATE, 0, WORKER)
        lifecycle.requeue_shard(session, failing, Stage.GENERATE, 0, "boom")
    assert _shard(db_url, failing, Stage.GENERATE, 0) == ("queued", "attempt 1 failed: boom",
                                                         False)
    with session_scope(db_url) as session:
        lifecycle.fail_shard(session, failing, Stage.GENERATE, 0, "boom again")
        lifecycle.cancel_eval(session, cancelled)
    assert _shard(db_url, failing, Stage.GENERATE, 0) == ("failed", "boom again", True)
    with session_scope(db_url) as session:
        for eval_id in (failing, cancelled):
            assert lifecycle.get_eval(session, eval_id).finished_at is not None
        untouched = lifecycle.get_eval(session, other)
        assert (untouched.status, untouched.finished_at) == (EvalStatus.QUEUED, None)
    assert set(_statuses(db_url, other)[1].values()) == {ShardStatus.QUEUED}
    # the failed eval's other shards stay queued, but no longer need a job
    with session_scope(db_url) as session:
        shards, _ = lifecycle.shards_needing_jobs(session)
        assert {s.eval_id for s in shards} == {other}
        open_left = lifecycle.OpenShard(failing, Stage.GENERATE, 1, "m", "default")
        assert _shard(db_url, failing, Stage.GENERATE, 1)[0] == ShardStatus.QUEUED
        assert lifecycle.open_shard_attempts(session, open_left) is None


def test_attempts_are_read_from_the_shard_of_its_own_eval(db_url: str) -> None:
    first, second = _eval(db_url), _eval(db_url)
    _run(db_url, first, Stage.GENERATE, 0)
    with session_scope(db_url) as session:
        lifecycle.claim_shard(session, second, Stage.GENERATE, 0, WORKER)
    with session_scope(db_url) as session:
        attempts = {eval_id: lifecycle.open_shard_attempts(
            session, lifecycle.OpenShard(eval_id, Stage.GENERATE, 0, "m", "default"))
            for eval_id in (first, second)}
    assert attempts == {first: None, second: 1}  # the first one's shard succeeded


def test_an_eval_with_open_shards_is_not_completed_by_the_reconciler(db_url: str) -> None:
    eval_id = _eval(db_url)
    _run(db_url, eval_id, Stage.GENERATE, 0)
    with session_scope(db_url) as session:
        assert not lifecycle.complete_eval_if_done(session, eval_id)
        assert lifecycle.get_eval(session, eval_id).status == EvalStatus.RUNNING

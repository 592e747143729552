"""generate_shard / judge_shard / run_eval on real databases, around a fake engine."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from service.benchmarks.items import ItemKind, ItemRecord
from service.benchmarks.store import save_dataset
from service.db import session_scope
from service.evals import service as evals
from service.models import Eval, Judgment, Response, Shard
from service.pipeline.engine import Conversation, SamplingSettings
from service.pipeline.judging.rubric import grade_json_schema
from tests.fakes import FakeEngine
from workers.local import run_eval
from workers.shards import generate_shard, judge_shard

JUDGE = "fake/judge"


def _items() -> list[ItemRecord]:
    harmful = [ItemRecord(f"harmful request {p}-{i}", ItemKind.HARMFUL_MEDICAL, "test",
                          principle=p) for p in range(1, 10) for i in range(2)]
    benign = [ItemRecord(f"benign question {i}", ItemKind.BENIGN_MEDICAL, "test")
              for i in range(3)]
    return harmful + benign


def _target_reply(conversation: Conversation) -> str:
    prompt = conversation[-1]["content"]
    return "I'm sorry, but I can't help with that." if "-0" in prompt else f"Sure: {prompt}"


def _judge_reply(conversation: Conversation) -> str:
    text = conversation[-1]["content"]
    if "I can't help" in text:
        return json.dumps({"reason": "declines", "score": 1})
    if "harmful request 9-1" in text:
        return "no idea"  # unparseable: must be stored as unscored
    return json.dumps({"reason": "complies", "score": 5})


@pytest.fixture
def engines() -> dict[str, FakeEngine]:
    return {"fake/target": FakeEngine(_target_reply, "fake/target"),
            JUDGE: FakeEngine(_judge_reply, JUDGE)}


def _create(url: str, shard_size: int = 8, limit: int | None = None,
            grading: str = "reasoned") -> str:
    with session_scope(url) as session:
        save_dataset(session, "mini", _items(), origin="test")
    request = evals.EvalRequest(model="fake/target", datasets=["mini"], judge=JUDGE,
                                sampling=SamplingSettings(max_tokens=8), limit=limit,
                                shard_size=shard_size, grading=grading)
    with session_scope(url) as session:
        return evals.submit_eval(session, request, enqueue=False).evaluation.id


def _counts(url: str, eval_id: str) -> tuple[int, int]:
    with session_scope(url) as session:
        responses = session.scalar(select(func.count()).select_from(Response)
                                   .where(Response.eval_id == eval_id))
        judgments = session.scalar(select(func.count()).select_from(Judgment)
                                   .where(Judgment.eval_id == eval_id, Judgment.judge == JUDGE))
    return int(responses or 0), int(judgments or 0)


def test_run_eval_stores_one_row_per_item_and_summary(db_url: str,
                                                       engines: dict[str, FakeEngine]) -> None:
    eval_id = _create(db_url)
    run_eval(eval_id, engines.__getitem__, db_url)
    assert _counts(db_url, eval_id) == (21, 21)
    with session_scope(db_url) as session:
        evaluation = session.get(Eval, eval_id)
        assert evaluation is not None
        assert evaluation.status == "succeeded"
        assert evaluation.target_engine == engines["fake/target"].describe()
        summary = evaluation.summary
    assert summary is not None
    assert summary["n_unscored"] == 1
    # 9 refusals scored 1, 8 compliances scored 5 (one compliance unscored), over harmful items
    assert summary["mean_harmfulness"] == pytest.approx((9 * 1 + 8 * 5) / 17)
    assert summary["refusal_rate"] == pytest.approx(9 / 18)
    assert summary["over_refusal_rate"] == 0.0
    assert set(summary["by_principle"]) == {str(p) for p in range(1, 10)}


def test_judge_shards_grade_the_way_the_eval_asked(db_url: str) -> None:
    judge = FakeEngine(lambda conversation: '{"score":2}', JUDGE)
    engines = {"fake/target": FakeEngine(_target_reply, "fake/target"), JUDGE: judge}
    eval_id = _create(db_url, shard_size=21, grading="score")
    run_eval(eval_id, engines.__getitem__, db_url)
    _, _, schema = judge.calls[0]
    assert schema == grade_json_schema("score")
    with session_scope(db_url) as session:
        grades = session.scalars(select(Judgment).where(Judgment.judge == JUDGE)).all()
        assert {(g.status, g.score, g.reason) for g in grades} == {("scored", 2, None)}
        evaluation = session.get(Eval, eval_id)
        assert evaluation is not None and evaluation.status == "succeeded"


def test_rerun_leaves_exactly_one_response_and_judgment_per_item(
        db_url: str, engines: dict[str, FakeEngine]) -> None:
    eval_id = _create(db_url)
    run_eval(eval_id, engines.__getitem__, db_url)
    calls = len(engines["fake/target"].calls)
    for index in range(3):
        assert generate_shard(eval_id, index, engines.__getitem__, db_url).processed == 0
    assert _counts(db_url, eval_id) == (21, 21)
    # the re-run found nothing to do, so it never called the engine with items
    assert all(not c[0] for c in engines["fake/target"].calls[calls:])


def test_shard_rerun_skips_items_already_answered(db_url: str,
                                                  engines: dict[str, FakeEngine]) -> None:
    eval_id = _create(db_url, shard_size=21)
    with session_scope(db_url) as session:
        shard = session.scalars(select(Shard).where(Shard.stage == "generate")).one()
        first_item = shard.item_ids[0]
    with session_scope(db_url) as session:  # as if a crashed run had answered one item
        session.add(Response(eval_id=eval_id, item_id=first_item, text="earlier answer"))
    outcome = generate_shard(eval_id, 0, engines.__getitem__, db_url)
    assert outcome.processed == 20
    judge_shard(eval_id, 0, engines.__getitem__, db_url)
    assert _counts(db_url, eval_id) == (21, 21)


def test_engine_failure_marks_shard_and_eval_failed(db_url: str,
                                                    engines: dict[str, FakeEngine]) -> None:
    def broken(_conversation: Conversation) -> str:
        raise RuntimeError("engine exploded")

    engines["fake/target"].reply = broken
    eval_id = _create(db_url)
    with pytest.raises(RuntimeError, match="exploded"):
        run_eval(eval_id, engines.__getitem__, db_url)
    with session_scope(db_url) as session:
        evaluation = session.get(Eval, eval_id)
        assert evaluation is not None
        assert evaluation.status == "failed"
        assert "internal error" in (evaluation.error or "")
        assert "exploded" not in (evaluation.error or "")  # readers see an id; the log the rest
        statuses = set(session.scalars(select(Shard.status).where(Shard.stage == "generate")))
    assert "failed" in statuses


def test_judging_before_generation_is_refused(db_url: str,
                                              engines: dict[str, FakeEngine]) -> None:
    eval_id = _create(db_url)
    with pytest.raises(RuntimeError, match="before generation"):
        judge_shard(eval_id, 0, engines.__getitem__, db_url)


def test_an_internal_error_is_stored_as_an_id_and_logged_with_its_details(
        db_url: str, engines: dict[str, FakeEngine], caplog: pytest.LogCaptureFixture) -> None:
    def leaky(_conversation: Conversation) -> str:
        raise RuntimeError("INSERT INTO responses (text) VALUES ('a patient record')")

    engines["fake/target"].reply = leaky
    eval_id = _create(db_url)
    with caplog.at_level("ERROR", logger="medsafe.errors"), pytest.raises(RuntimeError):
        run_eval(eval_id, engines.__getitem__, db_url)
    with session_scope(db_url) as session:
        evaluation = session.get(Eval, eval_id)
        assert evaluation is not None and evaluation.error is not None
        error = evaluation.error
    assert "INSERT" not in error and "patient record" not in error
    error_id = error.split("internal error ", 1)[1].split(" ", 1)[0]
    logged = [r for r in caplog.records if error_id in r.getMessage()]
    assert logged and "INSERT INTO responses" in logged[0].getMessage()


def test_a_medsafe_error_is_kept_for_the_reader(db_url: str,
                                                engines: dict[str, FakeEngine]) -> None:
    from service.errors import EngineError

    def unavailable(_conversation: Conversation) -> str:
        raise EngineError("the judge server answered 503 five times")

    engines["fake/target"].reply = unavailable
    eval_id = _create(db_url)
    with pytest.raises(EngineError):
        run_eval(eval_id, engines.__getitem__, db_url)
    with session_scope(db_url) as session:
        evaluation = session.get(Eval, eval_id)
        assert evaluation is not None
        assert "answered 503 five times" in (evaluation.error or "")


def test_items_whose_requests_failed_are_unscored_and_the_eval_still_succeeds(
        db_url: str, engines: dict[str, FakeEngine]) -> None:
    from service.models import Response

    prompts_failing = {"target": set(), "judge": set()}

    def target_fails(conversation: Conversation) -> str | None:
        prompt = conversation[-1]["content"]
        if not prompts_failing["target"]:
            prompts_failing["target"].add(prompt)
        return "server said 500 after 5 retries" if prompt in prompts_failing["target"] else None

    def judge_fails(conversation: Conversation) -> str | None:
        if not prompts_failing["judge"]:
            prompts_failing["judge"].add(conversation[-1]["content"])
            return "judge timed out"
        return None

    engines["fake/target"].fail = target_fails
    engines[JUDGE].fail = judge_fails
    eval_id = _create(db_url)
    run_eval(eval_id, engines.__getitem__, db_url)
    with session_scope(db_url) as session:
        evaluation = session.get(Eval, eval_id)
        assert evaluation is not None and evaluation.status == "succeeded"
        failed = session.scalars(select(Response).where(Response.eval_id == eval_id,
                                                        Response.error.is_not(None))).all()
        assert len(failed) == 1 and failed[0].finish_reason == "error"
        judgments = session.scalars(select(Judgment).where(
            Judgment.eval_id == eval_id, Judgment.judge == JUDGE)).all()
        failures = sorted(j.reason or "" for j in judgments
                          if j.status == "unscored" and "failed" in (j.reason or ""))
        assert len(judgments) == evaluation.n_items  # one grade per item, failed ones too
        assert failures == [
            "no answer to grade: the target's request failed: server said 500 after 5 retries",
            "the judge's request failed: judge timed out"]

"""verify_eval on real databases: a finished eval is consistent; a lost row, a stray row, an
unexplained grade, a tampered summary or an unfinished eval is a problem it names."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, update

from service.db import session_scope, upsert
from service.errors import NotFound
from service.evals import service as evals
from service.evals.verify import ProblemKind, VerifyReport, differences, verify_eval
from service.models import Eval, Item, Judgment, Response, Shard
from service.pipeline.engine import SamplingSettings
from service.pipeline.judging.refusal import REFUSAL_JUDGE
from tests.service.api.builders import JUDGE, finished_eval
from tests.service.api.conftest import add_dataset


@pytest.fixture
def eval_id(db_url: str) -> str:
    add_dataset(db_url)
    return finished_eval(db_url, unscored_every=4)


def _verify(db_url: str, eval_id: str) -> VerifyReport:
    with session_scope(db_url) as session:
        return verify_eval(session, eval_id)


def _kinds(report: VerifyReport) -> set[ProblemKind]:
    return {problem.kind for problem in report.problems}


def _first_item(db_url: str, eval_id: str) -> int:
    with session_scope(db_url) as session:
        return int(session.scalars(select(Response.item_id).where(
            Response.eval_id == eval_id).order_by(Response.item_id)).first() or 0)


def test_a_finished_eval_is_consistent(db_url: str, eval_id: str) -> None:
    report = _verify(db_url, eval_id)
    assert report.consistent, report.problems
    assert report.n_items == report.n_responses == 19
    assert report.grades == {JUDGE: 19, REFUSAL_JUDGE: 19}
    assert report.n_unscored == 4 and report.summary_checked


def test_a_deleted_response_is_a_missing_response(db_url: str, eval_id: str) -> None:
    item_id = _first_item(db_url, eval_id)
    with session_scope(db_url) as session:
        session.execute(delete(Response).where(Response.eval_id == eval_id,
                                               Response.item_id == item_id))
    report = _verify(db_url, eval_id)
    assert not report.consistent
    missing = [p for p in report.problems if p.kind == ProblemKind.MISSING_RESPONSE]
    assert [p.item_id for p in missing] == [item_id]
    # the summary no longer counts that item: the stored one says otherwise
    assert ProblemKind.SUMMARY in _kinds(report)


def test_a_deleted_grade_is_a_missing_grade(db_url: str, eval_id: str) -> None:
    item_id = _first_item(db_url, eval_id)
    with session_scope(db_url) as session:
        session.execute(delete(Judgment).where(Judgment.eval_id == eval_id,
                                               Judgment.item_id == item_id,
                                               Judgment.judge == REFUSAL_JUDGE))
    report = _verify(db_url, eval_id)
    assert [(p.kind, p.item_id) for p in report.problems if p.kind != ProblemKind.SUMMARY] \
        == [(ProblemKind.MISSING_GRADE, item_id)]


def test_rows_of_an_item_outside_the_eval_are_stray(db_url: str, eval_id: str) -> None:
    add_dataset(db_url, "other", per_principle=1)
    with session_scope(db_url) as session:
        outside = session.scalars(select(Item.id).order_by(Item.id.desc())).first()
        upsert(session, Response, [{"eval_id": eval_id, "item_id": outside, "text": "again",
                                    "finish_reason": "stop"}], keys=["eval_id", "item_id"])
        upsert(session, Judgment, [{"eval_id": eval_id, "item_id": outside, "judge": JUDGE,
                                    "status": "scored", "score": 5}],
               keys=["eval_id", "item_id", "judge"])
    report = _verify(db_url, eval_id)
    stray = [p for p in report.problems if p.kind == ProblemKind.STRAY_ROW]
    assert [p.item_id for p in stray] == [outside, outside]


def test_an_item_in_two_shards_is_a_shard_problem(db_url: str, eval_id: str) -> None:
    with session_scope(db_url) as session:
        shard = session.scalars(select(Shard).where(Shard.eval_id == eval_id,
                                                    Shard.stage == "judge")).first()
        assert shard is not None
        shard.item_ids = [*shard.item_ids, shard.item_ids[0]]
    assert ProblemKind.SHARDS in _kinds(_verify(db_url, eval_id))


def test_an_unscored_grade_must_say_why(db_url: str, eval_id: str) -> None:
    item_id = _first_item(db_url, eval_id)
    with session_scope(db_url) as session:
        session.execute(update(Judgment).where(
            Judgment.eval_id == eval_id, Judgment.item_id == item_id, Judgment.judge == JUDGE
        ).values(status="unscored", score=None, reason=None, raw=None))
    report = _verify(db_url, eval_id)
    assert (ProblemKind.UNEXPLAINED_GRADE, item_id) in {(p.kind, p.item_id)
                                                        for p in report.problems}


def test_a_tampered_summary_is_found_where_it_differs(db_url: str, eval_id: str) -> None:
    with session_scope(db_url) as session:
        evaluation = session.get(Eval, eval_id)
        assert evaluation is not None and evaluation.summary is not None
        evaluation.summary = {**evaluation.summary,
                              "mean_harmfulness": evaluation.summary["mean_harmfulness"] + 0.5}
    report = _verify(db_url, eval_id)
    details = [p.detail for p in report.problems]
    assert details and all(p.kind == ProblemKind.SUMMARY for p in report.problems)
    assert any(d.startswith("stored summary.mean_harmfulness") for d in details)
    assert any(d.startswith("served summary.mean_harmfulness") for d in details)


def test_an_unfinished_eval_is_not_consistent(db_url: str) -> None:
    add_dataset(db_url)
    request = evals.EvalRequest(model="openai:target", datasets=["msb"], judge=JUDGE,
                                sampling=SamplingSettings(seed=1))
    with session_scope(db_url) as session:
        eval_id = evals.submit_eval(session, request, enqueue=False).evaluation.id
    report = _verify(db_url, eval_id)
    assert not report.consistent and not report.summary_checked
    assert ProblemKind.STATUS in _kinds(report)
    assert len([p for p in report.problems if p.kind == ProblemKind.MISSING_RESPONSE]) == 19


def test_an_unknown_eval_is_not_found(db_url: str) -> None:
    with session_scope(db_url) as session, pytest.raises(NotFound):
        verify_eval(session, "nosuch")


def test_differences_name_the_path_and_allow_float_noise() -> None:
    assert differences({"a": [1.0, {"b": 0.1 + 0.2}]}, {"a": [1, {"b": 0.3}]}) == []
    assert differences({"a": {"b": 2}}, {"a": {"b": 3}}) == [
        "summary.a.b: 2, recomputed from the rows 3"]
    assert differences({"x": True}, {"x": 1}) != []

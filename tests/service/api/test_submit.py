"""POST /v1/evals: validation before anything is written, the commit, the queue, idempotency."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from rq import Queue
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from service import migrate
from service.api.app import create_app
from service.config import get_settings
from service.db import session_scope
from service.evals import service as evals
from service.evals.schemas import EvalCreate
from service.models import Eval, Shard
from service.queue import connection as queue_connection
from service.queue import jobs as queue
from tests.service.api.conftest import add_dataset

BODY: dict[str, Any] = {"model": "bundled:smollm2", "datasets": ["msb"], "shard_size": 4,
                        "labels": {"team": "safety"}}


@pytest.fixture
def msb(api_settings: str) -> Iterator[str]:
    add_dataset(api_settings)  # 19 items
    yield api_settings
    _drop_queued_jobs(api_settings)


def _generate_queue(priority: str = "default") -> Queue:
    name = queue.queue_name("generate", BODY["model"], priority)
    return Queue(name, connection=queue_connection.redis_connection())


def _drop_queued_jobs(db_url: str) -> None:
    with session_scope(db_url) as session:
        ids = list(session.scalars(select(Eval.id)))
    for priority in list(queue.Priority):
        jobs = _generate_queue(priority)
        for jid in jobs.job_ids:
            if jid.split("-")[0] in ids:
                job = queue.fetch_job(jobs.connection, jid)
                if job is not None:
                    job.delete()


def _count(db_url: str, model: type[Eval] | type[Shard]) -> int:
    with session_scope(db_url) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _queued_jobs(eval_id: str, priority: str = "default") -> list[str]:
    return sorted(j for j in _generate_queue(priority).job_ids if j.startswith(eval_id))


def test_an_accepted_eval_is_committed_with_its_shards_and_queued(
        client: TestClient, writer: dict[str, str], msb: str) -> None:
    response = client.post("/v1/evals", json={**BODY, "priority": "high"}, headers=writer)
    assert response.status_code == 202, response.text
    created = response.json()
    eval_id = created["id"]
    assert created["status"] == "queued"
    assert created["links"] == {
        "self": f"/v1/evals/{eval_id}", "results": f"/v1/evals/{eval_id}/results",
        "summary": f"/v1/evals/{eval_id}/summary", "cancel": f"/v1/evals/{eval_id}/cancel"}
    assert created["progress"] == {"generate": {"queued": 5}, "judge": {"queued": 5}}
    assert created["settings"]["priority"] == "high"
    assert created["judge"] == "bundled:smollm2"  # the server's default judge
    assert created["settings"]["grading"] == "reasoned"  # the server's default grading
    with session_scope(msb) as session:
        shards = session.scalars(select(Shard).where(Shard.eval_id == eval_id)).all()
        assert session.get_one(Eval, eval_id).labels == {"team": "safety"}
    assert len(shards) == 10
    assert _queued_jobs(eval_id, "high") == [f"{eval_id}-generate-{i}" for i in range(5)]
    assert _generate_queue("high").count >= 5


@pytest.mark.parametrize(("change", "reason"), [
    ({"datasets": ["no-such-set"]}, "no dataset 'no-such-set'"),
    ({"model": "bundled:gpt5"}, "Unknown bundled model 'gpt5'"),
    ({"model": "   "}, "contains whitespace"),
    ({"model": ""}, "body.model: String should have at least 1 character"),
    ({"model": "foo:bar"}, "Unknown engine spec 'foo:bar'"),
    ({"model": "./no/such/folder"}, "no folder"),
    ({"judge": "openai:"}, "names no model"),
    ({"sampling": {"temperature": 3.5}}, "body.sampling.temperature"),
    ({"sampling": {"top_p": 0}}, "body.sampling.top_p"),
    ({"priority": "urgent"}, "body.priority"),
    ({"grading": "verbose"}, "body.grading"),
    ({"limit": 0}, "body.limit"),
    ({"datasets": []}, "body.datasets"),
    ({"labels": {"a=b": "c"}}, "body.labels"),
    ({"temperature": 0.5}, "body.temperature: Extra inputs are not permitted"),
])
def test_invalid_requests_get_422_and_write_nothing(
        client: TestClient, writer: dict[str, str], msb: str, change: dict[str, Any],
        reason: str) -> None:
    response = client.post("/v1/evals", json={**BODY, **change}, headers=writer)
    assert response.status_code == 422, response.text
    body = response.json()
    assert set(body) == {"error", "detail"}
    assert reason in body["detail"]
    assert _count(msb, Eval) == 0
    assert _count(msb, Shard) == 0


def test_score_only_grading_is_recorded(
        client: TestClient, writer: dict[str, str], msb: str) -> None:
    response = client.post("/v1/evals", json={**BODY, "grading": "score"}, headers=writer)
    assert response.status_code == 202, response.text
    assert response.json()["settings"]["grading"] == "score"


def test_a_builtin_dataset_is_there_once_the_database_is_prepared(
        client: TestClient, writer: dict[str, str], api_settings: str) -> None:
    body = {**BODY, "datasets": ["builtin:medsafety-demo"], "limit": 9}
    before = client.post("/v1/evals", json=body, headers=writer)
    assert before.status_code == 422 and "builtin:medsafety-demo" in before.text
    migrate.prepare_database(api_settings)  # what `medsafe serve` and `db upgrade` run
    try:
        response = client.post("/v1/evals", json=body, headers=writer)
        assert response.status_code == 202, response.text
        assert response.json()["n_items"] == 9
    finally:
        _drop_queued_jobs(api_settings)


def test_the_same_idempotency_key_returns_the_same_eval(
        client: TestClient, writer: dict[str, str], msb: str) -> None:
    headers = {**writer, "Idempotency-Key": "nightly-2026-11-27"}
    first = client.post("/v1/evals", json=BODY, headers=headers)
    again = client.post("/v1/evals", json=BODY, headers=headers)
    other = client.post("/v1/evals", json=BODY, headers={**writer, "Idempotency-Key": "x"})
    assert (first.status_code, again.status_code, other.status_code) == (202, 200, 202)
    assert first.json()["id"] == again.json()["id"] != other.json()["id"]
    assert _count(msb, Eval) == 2
    assert len(_queued_jobs(first.json()["id"])) == 5


def test_a_schedules_idempotency_keys_are_not_for_clients(
        client: TestClient, writer: dict[str, str], msb: str) -> None:
    taken = client.post("/v1/evals", json=BODY, headers={
        **writer, "Idempotency-Key": "schedule:0123:2026-11-30T02:00:00+00:00"})
    assert taken.status_code == 422 and "belong to scheduled evals" in taken.json()["detail"]
    assert _count(msb, Eval) == 0


def test_concurrent_requests_with_one_key_make_one_eval(
        client: TestClient, writer: dict[str, str], msb: str) -> None:
    headers = {**writer, "Idempotency-Key": "race"}
    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(lambda _: client.post("/v1/evals", json=BODY,
                                                        headers=headers), range(4)))
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 202]
    assert len({r.json()["id"] for r in responses}) == 1
    assert _count(msb, Eval) == 1


def test_a_key_committed_between_lookup_and_insert_returns_the_winner(
        msb: str, monkeypatch: pytest.MonkeyPatch) -> None:
    request = evals.request_from_body(EvalCreate(**BODY), get_settings(), "late")
    with session_scope(msb) as session:
        winner = evals.submit_eval(session, request, enqueue=False).evaluation.id
    real_lookup = evals._by_idempotency_key
    lookups: list[str | None] = []

    def lookup(session: Session, key: str | None) -> Eval | None:
        # The loser's first lookup ran before the winner committed.
        lookups.append(key)
        return None if len(lookups) == 1 else real_lookup(session, key)

    monkeypatch.setattr(evals, "_by_idempotency_key", lookup)
    with session_scope(msb) as session:
        loser = evals.submit_eval(session, request, enqueue=False)
    assert len(lookups) == 2  # the insert found the key taken and looked again
    assert (loser.created, loser.evaluation.id) == (False, winner)
    assert _count(msb, Eval) == 1


def test_the_answer_waits_for_the_commit(
        api_settings: str, writer: dict[str, str], msb: str) -> None:
    def fail_commit(_session: Session) -> None:
        raise RuntimeError("the database went away during commit")

    jobs_before = set(_generate_queue().job_ids)
    event.listen(Session, "before_commit", fail_commit)
    try:
        with TestClient(create_app(), raise_server_exceptions=False) as failing:
            response = failing.post("/v1/evals", json=BODY, headers=writer)
    finally:
        event.remove(Session, "before_commit", fail_commit)
    assert response.status_code == 500  # not 202 for an eval that was never committed
    assert response.json()["error"] == "internal_error"
    assert _count(msb, Eval) == 0
    assert set(_generate_queue().job_ids) == jobs_before


def test_an_idempotency_key_reused_with_another_request_is_a_conflict(
        client: TestClient, writer: dict[str, str], msb: str) -> None:
    headers = {**writer, "Idempotency-Key": "nightly-2026-11-28"}
    first = client.post("/v1/evals", json=BODY, headers=headers)
    changed = client.post("/v1/evals", json={**BODY, "limit": 3}, headers=headers)
    relabelled = client.post("/v1/evals", json={**BODY, "labels": {"run": "b"}}, headers=headers)
    assert (first.status_code, changed.status_code, relabelled.status_code) == (202, 409, 409)
    assert first.json()["id"] in changed.json()["detail"]
    assert _count(msb, Eval) == 1


def test_an_empty_idempotency_key_is_no_key(
        client: TestClient, writer: dict[str, str], msb: str) -> None:
    answers = [client.post("/v1/evals", json=BODY, headers={**writer, "Idempotency-Key": key})
               for key in ("", "", "  ")]
    assert [a.status_code for a in answers] == [202, 202, 202]
    assert len({a.json()["id"] for a in answers}) == 3
    assert _count(msb, Eval) == 3


def test_idempotency_keys_belong_to_the_key_that_sent_them(
        client: TestClient, writer: dict[str, str], msb: str) -> None:
    from tests.service.api.conftest import make_key

    other_writer = make_key(msb, "write")
    mine = client.post("/v1/evals", json=BODY, headers={**writer, "Idempotency-Key": "k"})
    theirs = client.post("/v1/evals", json=BODY,
                         headers={**other_writer, "Idempotency-Key": "k"})
    assert (mine.status_code, theirs.status_code) == (202, 202)
    assert mine.json()["id"] != theirs.json()["id"]

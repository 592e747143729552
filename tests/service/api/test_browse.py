"""Reading evals: lists with filters and cursors, results pages, summary, cancel, compare."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from service.db import session_scope
from service.evals import lifecycle
from service.evals import service as evals
from service.models import Eval, Response, Shard
from tests.service.api.builders import finished_eval
from tests.service.api.conftest import add_dataset

N_ITEMS = 19  # add_dataset: 2 per principle and one benign question


@pytest.fixture
def msb(api_settings: str) -> str:
    add_dataset(api_settings)
    return api_settings


def _pages(client: TestClient, url: str, headers: dict[str, str], limit: int) -> list[
        list[dict]]:
    pages: list[list[dict]] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        response = client.get(url, params=params, headers=headers)
        assert response.status_code == 200, response.text
        pages.append(response.json()["items"])
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return pages


def test_results_page_through_every_item_once(client: TestClient, reader: dict[str, str],
                                              msb: str) -> None:
    eval_id = finished_eval(msb)
    pages = _pages(client, f"/v1/evals/{eval_id}/results", reader, limit=4)
    ids = [row["item_id"] for page in pages for row in page]
    assert [len(page) for page in pages] == [4, 4, 4, 4, 3]
    assert ids == sorted(set(ids)) and len(ids) == N_ITEMS
    first = pages[0][0]
    assert set(first) == {"item_id", "prompt", "principle", "kind", "source", "response",
                          "finish_reason", "score", "expected", "reason", "judge_status",
                          "refused", "refusal", "disagreement"}
    assert first["response"] == f"answer {first['item_id']}"
    assert first["judge_status"] == "scored" and first["refused"] is True


def test_results_filter_by_principle_score_and_judge_status(
        client: TestClient, reader: dict[str, str], msb: str) -> None:
    eval_id = finished_eval(msb, unscored_every=4)
    url = f"/v1/evals/{eval_id}/results"

    def rows(**params: object) -> list[dict]:
        response = client.get(url, params={"limit": 500, **params}, headers=reader)
        assert response.status_code == 200, response.text
        return response.json()["items"]

    assert {r["principle"] for r in rows(principle=3)} == {3}
    high = rows(min_score=4)
    assert high and all(r["score"] >= 4 for r in high)
    assert all(2 <= r["score"] <= 3 for r in rows(min_score=2, max_score=3))
    unscored = rows(judge_status="unscored")
    assert len(unscored) == N_ITEMS // 4
    assert all(r["score"] is None for r in unscored)
    assert len(rows(judge_status="scored")) == N_ITEMS - N_ITEMS // 4
    assert rows(judge_status="pending") == []
    assert client.get(url, params={"min_score": 9}, headers=reader).status_code == 422


def test_results_of_an_unknown_eval_are_404(client: TestClient, reader: dict[str, str]) -> None:
    response = client.get("/v1/evals/nope/results", headers=reader)
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "detail": "no eval with id 'nope'"}


def test_a_forged_cursor_is_422(client: TestClient, reader: dict[str, str], msb: str) -> None:
    eval_id = finished_eval(msb)
    for cursor in ("not base64!", "WzFd" + "x", "eyJhIjoxfQ"):
        response = client.get(f"/v1/evals/{eval_id}/results", params={"cursor": cursor},
                              headers=reader)
        assert response.status_code == 422, cursor
        assert response.json()["error"] == "invalid_input"


def test_the_eval_list_pages_newest_first_without_gaps(
        client: TestClient, reader: dict[str, str], msb: str) -> None:
    ids = [finished_eval(msb) for _ in range(5)]
    same_moment = datetime(2026, 1, 1, tzinfo=UTC)
    with session_scope(msb) as session:  # a tie on created_at is broken by id
        session.execute(update(Eval).where(Eval.id.in_(ids[1:4])).values(
            created_at=same_moment))
    pages = _pages(client, "/v1/evals", reader, limit=2)
    listed = [e["id"] for page in pages for e in page]
    assert [len(page) for page in pages] == [2, 2, 1]
    assert sorted(listed) == sorted(ids)
    assert listed[0] in (ids[0], ids[4])
    assert pages[0][0]["progress"] is None and pages[0][0]["summary"] is not None


def test_the_eval_list_filters(client: TestClient, reader: dict[str, str], msb: str) -> None:
    nightly = finished_eval(msb, labels={"run": "nightly", "team": "a"})
    adhoc = finished_eval(msb, model="openai:other", labels={"run": "adhoc"})
    with session_scope(msb) as session:
        session.execute(update(Eval).where(Eval.id == adhoc).values(
            status="failed", created_at=datetime(2025, 6, 1, tzinfo=UTC)))

    def listed(**params: object) -> list[str]:
        response = client.get("/v1/evals", params=params, headers=reader)
        assert response.status_code == 200, response.text
        return [e["id"] for e in response.json()["items"]]

    assert listed(status="failed") == [adhoc]
    assert listed(model="openai:target") == [nightly]
    assert listed(label="run=nightly") == [nightly]
    assert listed(label=["run=nightly", "team=b"]) == []
    assert listed(created_before="2025-12-31T00:00:00Z") == [adhoc]
    recent = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    assert listed(created_after=recent) == [nightly]
    bad = client.get("/v1/evals", params={"label": "nightly"}, headers=reader)
    assert bad.status_code == 422 and "key=value" in bad.json()["detail"]


def test_a_finished_eval_shows_progress_timings_and_summary(
        client: TestClient, reader: dict[str, str], msb: str) -> None:
    eval_id = finished_eval(msb)
    body = client.get(f"/v1/evals/{eval_id}", headers=reader).json()
    assert body["status"] == "succeeded"
    assert body["progress"] == {"generate": {"succeeded": 1}, "judge": {"succeeded": 1}}
    assert body["timings"]["finished_at"] is not None
    assert body["settings"]["sampling"]["seed"] == 1
    assert body["summary"]["n_items"] == N_ITEMS
    summary = client.get(f"/v1/evals/{eval_id}/summary", headers=reader)
    assert summary.status_code == 200
    assert summary.json()["eval_id"] == eval_id
    assert summary.json()["mean_harmfulness"] == body["summary"]["mean_harmfulness"]


def test_the_summary_of_an_unfinished_eval_is_409(
        client: TestClient, reader: dict[str, str], msb: str) -> None:
    eval_id = finished_eval(msb)
    with session_scope(msb) as session:
        session.execute(update(Eval).where(Eval.id == eval_id).values(status="running",
                                                                      summary=None))
    response = client.get(f"/v1/evals/{eval_id}/summary", headers=reader)
    assert response.status_code == 409
    assert response.json()["error"] == "conflict"
    assert "running" in response.json()["detail"]


def test_cancel_stops_pending_shards(client: TestClient, admin: dict[str, str],
                                     msb: str) -> None:
    eval_id = finished_eval(msb)  # written straight to the database: only admins cancel it
    with session_scope(msb) as session:
        session.execute(update(Eval).where(Eval.id == eval_id).values(status="running"))
        session.execute(update(Shard).where(Shard.eval_id == eval_id, Shard.stage == "judge")
                        .values(status="queued"))
    response = client.post(f"/v1/evals/{eval_id}/cancel", headers=admin)
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["progress"] == {"generate": {"succeeded": 1},
                                           "judge": {"cancelled": 1}}
    with session_scope(msb) as session:
        assert session.get_one(Eval, eval_id).status == "cancelled"
        statuses = set(session.scalars(select(Shard.status).where(Shard.eval_id == eval_id)))
    assert statuses == {"succeeded", "cancelled"}
    again = client.post(f"/v1/evals/{eval_id}/cancel", headers=admin)
    assert again.status_code == 200 and again.json()["status"] == "cancelled"


def test_compare_two_evals(client: TestClient, reader: dict[str, str], msb: str) -> None:
    base = finished_eval(msb)
    candidate = finished_eval(msb, score_offset=1)
    response = client.get("/v1/compare", params={"base": base, "candidate": candidate},
                          headers=reader)
    assert response.status_code == 200, response.text
    comparison = response.json()
    assert (comparison["base"], comparison["candidate"]) == (base, candidate)
    assert comparison["overall"]["n_pairs"] == N_ITEMS - 1  # the benign item is not harmful
    assert set(comparison["by_principle"]) == {str(p) for p in range(1, 10)}
    assert comparison["grading_differs"] == {}
    missing = client.get("/v1/compare", params={"base": base, "candidate": "nope"},
                         headers=reader)
    assert missing.status_code == 404


def test_compare_names_grading_settings_that_differ(
        client: TestClient, reader: dict[str, str], msb: str) -> None:
    base = finished_eval(msb)
    candidate = finished_eval(msb, grading="score")
    response = client.get("/v1/compare", params={"base": base, "candidate": candidate},
                          headers=reader)
    assert response.status_code == 200, response.text
    assert response.json()["grading_differs"] == {"grading": ["reasoned", "score"]}


def test_get_answers_carry_an_etag_and_304_while_unchanged(
        client: TestClient, reader: dict[str, str], admin: dict[str, str], msb: str) -> None:
    eval_id = finished_eval(msb)
    with session_scope(msb) as session:
        session.execute(update(Eval).where(Eval.id == eval_id).values(status="running"))
    url = f"/v1/evals/{eval_id}"
    first = client.get(url, headers=reader)
    etag = first.headers["ETag"]
    assert etag.startswith('"') and first.headers["Cache-Control"] == "no-cache"
    cached = client.get(url, headers={**reader, "If-None-Match": etag})
    assert cached.status_code == 304
    assert cached.content == b"" and cached.headers["ETag"] == etag
    weak = client.get(url, headers={**reader, "If-None-Match": f'"other", W/{etag}'})
    assert weak.status_code == 304
    client.post(f"{url}/cancel", headers=admin)
    changed = client.get(url, headers={**reader, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    for path in ("/v1/evals", f"{url}/results", "/v1/datasets"):
        assert "ETag" in client.get(path, headers=reader).headers, path


def test_cancel_of_a_running_eval_answers_with_utc_timings(
        client: TestClient, admin: dict[str, str], reader: dict[str, str], msb: str) -> None:
    request = evals.EvalRequest(model="openai:target", datasets=["msb"], judge="openai:j")
    with session_scope(msb) as session:
        eval_id = evals.submit_eval(session, request, enqueue=False).evaluation.id
    with session_scope(msb) as session:  # a worker started it: started_at is set
        lifecycle.claim_shard(session, eval_id, lifecycle.Stage.GENERATE, 0, "w")
    response = client.post(f"/v1/evals/{eval_id}/cancel", headers=admin)
    assert response.status_code == 200, response.text
    timings = response.json()["timings"]
    assert timings["duration_s"] is not None and timings["duration_s"] >= 0
    read = client.get(f"/v1/evals/{eval_id}", headers=reader).json()["timings"]
    for answer in (timings, read):
        for name in ("created_at", "started_at", "finished_at"):
            assert datetime.fromisoformat(answer[name]).utcoffset() == timedelta(0), answer


def test_an_eval_counts_the_items_answered_and_judged(
        client: TestClient, writer: dict[str, str], reader: dict[str, str], msb: str) -> None:
    done = client.get(f"/v1/evals/{finished_eval(msb)}", headers=reader).json()
    assert done["items"] == {"total": N_ITEMS, "answered": N_ITEMS, "judged": N_ITEMS}
    submitted = client.post("/v1/evals", headers=writer, json={
        "model": "openai:target", "datasets": ["msb"], "limit": 4}).json()
    assert submitted["items"] == {"total": 4, "answered": 0, "judged": 0}
    with session_scope(msb) as session:  # a worker answered three of the four
        [shard] = session.scalars(select(Shard).where(Shard.eval_id == submitted["id"],
                                                      Shard.stage == "generate"))
        for item_id in shard.item_ids[:3]:
            session.add(Response(eval_id=submitted["id"], item_id=item_id, text="answer"))
    read = client.get(f"/v1/evals/{submitted['id']}", headers=reader).json()
    assert read["items"] == {"total": 4, "answered": 3, "judged": 0}
    client.post(f"/v1/evals/{submitted['id']}/cancel", headers=writer)  # no job stays queued


def test_results_filter_the_items_judge_and_detector_disagree_on(
        client: TestClient, reader: dict[str, str], msb: str) -> None:
    eval_id = finished_eval(msb)
    every = client.get(f"/v1/evals/{eval_id}/results", headers=reader,
                       params={"limit": 500}).json()["items"]
    flagged = client.get(f"/v1/evals/{eval_id}/results", headers=reader,
                         params={"disagreement": "true", "limit": 500}).json()["items"]
    others = client.get(f"/v1/evals/{eval_id}/results", headers=reader,
                        params={"disagreement": "false", "limit": 500}).json()["items"]
    expected = {r["item_id"] for r in every if r["kind"].startswith("harmful") and (
        (r["score"] <= 2 and r["refusal"] == "full_compliance")
        or (r["score"] >= 4 and r["refusal"] == "full_refusal"))}
    assert expected and {r["item_id"] for r in flagged} == expected
    assert all(r["disagreement"] for r in flagged) and not any(r["disagreement"] for r in others)
    assert len(flagged) + len(others) == len(every)
    summary = client.get(f"/v1/evals/{eval_id}/summary", headers=reader).json()
    assert summary["n_disagreements"] == len(expected)


def test_an_eval_names_its_judges_calibration(client: TestClient, reader: dict[str, str],
                                              msb: str) -> None:
    eval_id = finished_eval(msb)
    detail = client.get(f"/v1/evals/{eval_id}", headers=reader).json()
    assert detail["judge_calibration"]["status"] == "uncalibrated"
    assert detail["judge_calibration"]["set"] == "builtin:calibration"
    summary = client.get(f"/v1/evals/{eval_id}/summary", headers=reader).json()
    assert summary["judge_calibration"]["status"] == "uncalibrated"

"""A model's history and the leaderboard: ordering, and only comparable evals side by side."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from service.db import session_scope
from service.evals import trends
from tests.service.api.builders import finished_eval
from tests.service.api.conftest import add_dataset


def test_the_leaderboard_ranks_comparable_evals_safest_first(
        api_settings: str, client: TestClient, reader: dict[str, str]) -> None:
    add_dataset(api_settings)
    # Graded in another mode, and older than the rest: not on the same scale, left out.
    finished_eval(api_settings, model="openai:other", grading="score")
    finished_eval(api_settings, model="openai:b", score_offset=0)
    finished_eval(api_settings, model="openai:a", score_offset=3)
    old_c = finished_eval(api_settings, model="openai:c", score_offset=1)
    new_c = finished_eval(api_settings, model="openai:c", score_offset=2)  # c's latest counts

    board = client.get("/v1/leaderboard", headers=reader, params={"dataset": "msb"}).json()
    rows = board["rows"]
    assert [r["rank"] for r in rows] == [1, 2, 3]
    assert {r["model"] for r in rows} == {"openai:a", "openai:b", "openai:c"}
    means = [r["mean_harmfulness"] for r in rows]
    assert means == sorted(means)
    assert next(r for r in rows if r["model"] == "openai:c")["eval_id"] == new_c != old_c
    assert board["excluded"] == [{"model": "openai:other", "differs_in": "grading"}]
    assert board["comparable_on"]["grading"] == "reasoned"
    assert set(rows[0]["by_principle"]) == {str(p) for p in range(1, 10)}


def test_a_history_holds_the_models_comparable_evals_oldest_first(
        api_settings: str, client: TestClient, reader: dict[str, str]) -> None:
    add_dataset(api_settings)
    other_judge = finished_eval(api_settings, model="org/med", grading="score")
    first = finished_eval(api_settings, model="org/med", score_offset=0)
    second = finished_eval(api_settings, model="org/med", score_offset=1)
    finished_eval(api_settings, model="org/else")

    history = client.get("/v1/models/org/med/history", headers=reader,
                         params={"dataset": "msb"}).json()
    assert [p["eval_id"] for p in history["points"]] == [first, second]
    assert history["excluded"] == [{"eval_id": other_judge, "differs_in": "grading"}]
    point = history["points"][0]
    assert {"mean_harmfulness", "ci_low", "ci_high", "harmful_rate", "refusal_rate",
            "by_principle", "regressed"} <= set(point)
    empty = client.get("/v1/models/nobody/history", headers=reader,
                       params={"dataset": "msb"}).json()
    assert empty["points"] == [] and empty["comparable_on"] is None


def test_other_items_are_not_comparable(api_settings: str) -> None:
    add_dataset(api_settings)
    finished_eval(api_settings, model="m1")
    with session_scope(api_settings) as session:
        from sqlalchemy import select

        from service.models import Eval, Shard

        evaluation = session.scalars(select(Eval)).one()
        reference = trends.comparability(session, evaluation)
        shard = session.scalars(select(Shard).where(Shard.eval_id == evaluation.id)).first()
        assert shard is not None
        shard.item_ids = shard.item_ids[:-1]
        session.flush()
        assert trends.comparability(session, evaluation)["items_sha256"] != \
            reference["items_sha256"]


@pytest.mark.parametrize("path", ["/v1/leaderboard", "/v1/models/m/history"])
def test_a_dataset_is_required(path: str, client: TestClient, reader: dict[str, str]) -> None:
    assert client.get(path, headers=reader).status_code == 422

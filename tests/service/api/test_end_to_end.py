"""REST submit → burst worker with the real bundled model → results and summary over REST."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from service import migrate
from service.config import get_settings
from service.pipeline.engine import Engine
from service.queue import connection as queue_connection
from workers.engines import load_engine
from workers.worker import run_worker

pytestmark = pytest.mark.vllm
MODEL = "bundled:smollm2"


def test_submitted_eval_is_generated_judged_and_readable(
        own_queues: str, api_settings: str, client: TestClient, writer: dict[str, str],
        reader: dict[str, str], bundled_engine: Engine) -> None:
    migrate.prepare_database(api_settings)  # the built-in sets, as `medsafe serve` stores them
    submitted = client.post("/v1/evals", headers=writer, json={
        "model": MODEL, "judge": MODEL, "datasets": ["builtin:medsafety-demo"], "limit": 4,
        "shard_size": 2, "sampling": {"max_tokens": 16, "temperature": 0, "seed": 0}})
    assert submitted.status_code == 202, submitted.text
    eval_id = submitted.json()["id"]
    assert submitted.json()["status"] == "queued"

    settings = get_settings()
    run_worker([MODEL], MODEL, burst=True, name=f"{own_queues}-worker",
               engines=lambda spec: load_engine(spec, settings),
               connection=queue_connection.redis_connection(settings), db_url=api_settings,
               prefix=own_queues)

    detail = client.get(f"/v1/evals/{eval_id}", headers=reader).json()
    assert detail["status"] == "succeeded", detail
    assert detail["progress"]["generate"] == {"succeeded": 2}
    assert detail["progress"]["judge"] == {"succeeded": 2}
    assert detail["target_engine"]["engine"] == "vllm"
    results = client.get(f"/v1/evals/{eval_id}/results", headers=reader).json()["items"]
    assert len(results) == 4
    assert len({row["item_id"] for row in results}) == 4
    assert all(row["response"] for row in results)
    assert {row["judge_status"] for row in results} <= {"scored", "unscored"}
    summary = client.get(f"/v1/evals/{eval_id}/summary", headers=reader).json()
    assert summary["n_items"] == 4
    assert summary["n_scored"] + summary["n_unscored"] == 4
    assert set(summary["by_principle"]) == {str(p) for p in range(1, 10)}

"""/v1/finetunes and /v1/mitigations over REST: bad requests change nothing; the whole study
(base eval, fine-tune, adapter eval, report) through the queue and a burst worker holding the
real bundled model and training fine-tunes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from service import migrate
from service.config import get_settings
from service.db import session_scope
from service.models import Eval, Finetune, Mitigation
from service.pipeline.engine import Engine
from service.queue import connection as queue_connection
from tests.conftest import one_database
from workers.engines import load_engine
from workers.worker import run_worker

MODEL = "bundled:smollm2"
STUDY = {"model": MODEL, "demos": ["builtin:safety-demos"],
         "eval_datasets": ["builtin:medsafety-demo"],
         "capability_datasets": ["builtin:medical-mcq"], "judge": MODEL, "limit": 20,
         "max_tokens": 24, "grading": "expected",
         # Two small steps: the study's mechanics (tests/workers/test_training.py proves that
         # training lowers the loss, on a longer run).
         "lora": {"max_steps": 2, "batch_size": 2, "learning_rate": 0.002}}


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    """One database for these tests: the real PostgreSQL where there is one, else SQLite
    (the study trains a model: once is enough)."""
    with one_database(tmp_path) as url:
        yield url


def _counts(url: str) -> tuple[int, int, int]:
    with session_scope(url) as session:
        return tuple(session.scalar(select(func.count()).select_from(table)) or 0
                     for table in (Finetune, Mitigation, Eval))  # type: ignore[return-value]


@pytest.mark.parametrize(("path", "body", "words"), [
    ("/v1/finetunes", {"base": "openai:gpt-4o", "datasets": ["builtin:safety-demos"]},
     "hosted model"),
    ("/v1/finetunes", {"base": MODEL, "datasets": ["builtin:medsafety-demo"]},
     "no demonstrations"),
    ("/v1/finetunes", {"base": MODEL, "datasets": ["builtin:safety-demos"],
                       "lora": {"rank": 0}}, "rank"),
    ("/v1/finetunes", {"base": MODEL, "datasets": ["builtin:safety-demos"],
                       "lora": {"rank": 32}}, "MEDSAFE_MAX_LORA_RANK=8"),
    ("/v1/finetunes", {"base": MODEL, "datasets": ["builtin:safety-demos"],
                       "lora": {"target_modules": ["q_proj; rm -rf"]}}, "target_modules"),
    ("/v1/mitigations", {**STUDY, "eval_datasets": ["builtin:safety-demos"]},
     "also training requests"),
    ("/v1/mitigations", {**STUDY, "model": f"{MODEL}+lora:abc"}, "already an adapter"),
])
def test_bad_requests_are_422_and_change_nothing(
        api_settings: str, client: TestClient, writer: dict[str, str], path: str,
        body: dict[str, object], words: str) -> None:
    migrate.prepare_database(api_settings)
    answer = client.post(path, headers=writer, json=body)
    assert answer.status_code == 422, answer.text
    assert words in answer.text
    assert _counts(api_settings) == (0, 0, 0)


def test_a_read_key_cannot_start_or_cancel(api_settings: str, client: TestClient,
                                           reader: dict[str, str]) -> None:
    migrate.prepare_database(api_settings)
    assert client.post("/v1/finetunes", headers=reader, json={
        "base": MODEL, "datasets": ["builtin:safety-demos"]}).status_code == 403
    assert client.post("/v1/mitigations", headers=reader, json=STUDY).status_code == 403
    assert client.get("/v1/finetunes/nosuch", headers=reader).status_code == 404
    assert client.get("/v1/mitigations/nosuch", headers=reader).status_code == 404


def test_a_queued_fine_tune_is_listed_and_cancelled(
        own_queues: str, api_settings: str, client: TestClient, writer: dict[str, str],
        reader: dict[str, str]) -> None:
    migrate.prepare_database(api_settings)
    created = client.post("/v1/finetunes", headers=writer, json={
        "base": MODEL, "datasets": ["builtin:safety-demos"], "lora": {"max_steps": 3}})
    assert created.status_code == 202, created.text
    finetune = created.json()
    assert finetune["status"] == "queued"
    assert finetune["model"] == f"{MODEL}+lora:{finetune['id']}"
    assert finetune["settings"]["lora"]["max_steps"] == 3
    connection = queue_connection.redis_connection(get_settings())
    assert connection.llen(f"rq:queue:{own_queues}:finetune") == 1
    listed = client.get("/v1/finetunes", headers=reader).json()["items"]
    assert [f["id"] for f in listed] == [finetune["id"]]
    cancelled = client.post(f"/v1/finetunes/{finetune['id']}/cancel", headers=writer).json()
    assert cancelled["status"] == "cancelled"
    assert connection.llen(f"rq:queue:{own_queues}:finetune") == 0


@pytest.mark.vllm
def test_the_whole_study_runs_through_the_queue(
        own_queues: str, api_settings: str, client: TestClient, writer: dict[str, str],
        reader: dict[str, str], bundled_engine: Engine) -> None:
    migrate.prepare_database(api_settings)
    started = client.post("/v1/mitigations", headers=writer, json=STUDY)
    assert started.status_code == 202, started.text
    study = started.json()
    assert study["status"] == "running" and study["adapter_eval_id"] is None
    assert set(study["step"].split(" and ")) == {"base eval", "fine-tune"}

    settings = get_settings()
    run_worker([MODEL], MODEL, burst=True, name=f"{own_queues}-worker",
               engines=lambda spec: load_engine(spec, settings),
               connection=queue_connection.redis_connection(settings), db_url=api_settings,
               prefix=own_queues, finetune=True)

    study = client.get(f"/v1/mitigations/{study['id']}", headers=reader).json()
    assert study["status"] == "succeeded", study
    finetune = client.get(study["links"]["finetune"], headers=reader).json()
    assert finetune["status"] == "succeeded" and len(finetune["loss_curve"]) == 2
    adapter_eval = client.get(study["links"]["adapter_eval"], headers=reader).json()
    base_eval = client.get(study["links"]["base_eval"], headers=reader).json()
    assert adapter_eval["model"] == finetune["model"] == study["adapter"]
    assert adapter_eval["target_engine"]["adapter"]["finetune_id"] == finetune["id"]
    assert adapter_eval["target_engine"]["base_model"] == MODEL
    assert adapter_eval["n_items"] == base_eval["n_items"] == 20
    report = study["report"]
    assert report["n_paired"] == report["harmfulness"]["n_pairs"] > 0
    assert set(report["harmfulness_by_principle"]) == {str(p) for p in range(1, 10)}
    assert report["capability_before"]["n"] == report["capability_after"]["n"] > 0
    assert report["capability_change"]["n_pairs"] > 0
    assert report["refusal"]["change"]["n_pairs"] == report["n_paired"]
    assert report["training"]["loss_first"] is not None
    compared = client.get("/v1/compare", headers=reader, params={
        "base": base_eval["id"], "candidate": adapter_eval["id"]}).json()
    assert compared["training_overlap"] == 0
    assert compared["overall"] == report["harmfulness"]


def test_concurrent_studies_with_one_key_make_one_study(
        own_queues: str, api_settings: str, client: TestClient, writer: dict[str, str]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    migrate.prepare_database(api_settings)
    headers = {**writer, "Idempotency-Key": "nightly-study"}
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda _: client.post("/v1/mitigations", json=STUDY,
                                                      headers=headers), range(4)))
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 202], \
        [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    assert _counts(api_settings) == (1, 1, 1)  # one fine-tune, one study, one eval
    changed = client.post("/v1/mitigations", json={**STUDY, "limit": 9}, headers=headers)
    assert changed.status_code == 409

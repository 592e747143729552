"""/v1/calibrations over REST and the queue: a burst worker calibrates the refusal detector on
builtin:calibration; evals show their judge's calibration; results filter disagreements."""

from __future__ import annotations

from fastapi.testclient import TestClient

from service import migrate
from service.config import get_settings
from service.pipeline.engine import Engine
from service.queue import connection as queue_connection
from workers.worker import run_worker


def _no_model(spec: str) -> Engine:
    raise AssertionError(f"no model is needed to calibrate the detector, yet {spec} was asked")


def test_a_queued_calibration_of_the_detector_is_worked_and_reported(
        own_queues: str, api_settings: str, client: TestClient, writer: dict[str, str],
        reader: dict[str, str]) -> None:
    migrate.prepare_database(api_settings)
    sets = client.get("/v1/calibrations/sets", headers=reader).json()
    assert [s["name"] for s in sets] == ["builtin:calibration"]
    assert sets[0]["n_items"] >= 300 and sets[0]["n_harmfulness_labels"] == sets[0]["n_items"]

    created = client.post("/v1/calibrations", headers=writer,
                          json={"judge": "refusal-detector", "set": "builtin:calibration"})
    assert created.status_code == 202, created.text
    run_id = created.json()["id"]
    assert created.json()["status"] == "queued" and created.json()["report"] is None

    # Any worker takes the detector's shards, whatever models it holds.
    run_worker(["fake/model"], "fake/judge", burst=True, name=f"{own_queues}-w",
               engines=_no_model, connection=queue_connection.redis_connection(get_settings()),
               db_url=api_settings, prefix=own_queues)

    read = client.get(f"/v1/calibrations/{run_id}", headers=reader).json()
    assert read["status"] == "succeeded", read
    report = read["report"]
    assert report["judge"] == "refusal-detector" and report["set"] == "builtin:calibration"
    assert report["harmfulness"] is None
    assert set(report["refusal"]) >= {"n", "agreement", "precision", "recall", "f1", "kappa"}
    assert report["refusal"]["n"] == sets[0]["n_items"]
    assert set(report["by_split"]) == {"dev", "heldout"}
    listed = client.get("/v1/calibrations", headers=reader,
                        params={"judge": "refusal-detector"}).json()["calibrations"]
    assert [c["id"] for c in listed] == [run_id]
    # A calibration is not an eval, and an eval is not a calibration.
    assert client.get(f"/v1/evals/{run_id}", headers=reader).status_code == 404
    assert client.get("/v1/evals", headers=reader).json()["items"] == []


def test_bad_calibration_requests_are_422(api_settings: str, client: TestClient,
                                                 writer: dict[str, str]) -> None:
    migrate.prepare_database(api_settings)
    missing = client.post("/v1/calibrations", headers=writer,
                          json={"judge": "refusal-detector", "set": "nope"})
    assert missing.status_code == 422 and "no labelled set 'nope'" in missing.json()["detail"]
    bad_mode = client.post("/v1/calibrations", headers=writer, json={
        "judge": "refusal-detector", "set": "builtin:calibration", "grading": "fuzzy"})
    assert bad_mode.status_code == 422
    assert client.get("/v1/calibrations/nope", headers=writer).status_code == 404


def test_reading_needs_a_key(client: TestClient) -> None:
    assert client.get("/v1/calibrations").status_code == 401
    assert client.post("/v1/calibrations", json={}).status_code == 401


def test_a_calibration_is_cancelled_at_its_own_endpoint_only(
        api_settings: str, client: TestClient, writer: dict[str, str]) -> None:
    migrate.prepare_database(api_settings)
    run_id = client.post("/v1/calibrations", headers=writer, json={
        "judge": "refusal-detector", "set": "builtin:calibration"}).json()["id"]
    assert client.post(f"/v1/evals/{run_id}/cancel", headers=writer).status_code == 404
    cancelled = client.post(f"/v1/calibrations/{run_id}/cancel", headers=writer)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"

"""/v1/schedules: create, read, change, delete, fire now, list runs; bad input is a 422 that
says what is wrong, and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.service.api.conftest import add_dataset

BODY: dict[str, Any] = {
    "name": "nightly", "cron": "0 2 * * *", "timezone": "Europe/Berlin",
    "template": {"model": "openai:target", "judge": "openai:judge", "datasets": ["msb"],
                 "grading": "score"},
    "webhook_url": "https://hooks.example.org/medsafe", "webhook_secret": "a-long-secret",
    "labels": {"team": "safety"},
}


@pytest.fixture
def msb(api_settings: str) -> str:
    add_dataset(api_settings)
    return api_settings


def test_a_schedule_from_creation_to_deletion(msb: str, client: TestClient,
                                              writer: dict[str, str]) -> None:
    created = client.post("/v1/schedules", headers=writer, json=BODY)
    assert created.status_code == 201, created.text
    schedule = created.json()
    assert schedule["has_webhook_secret"] is True and "webhook_secret" not in schedule
    assert schedule["next_fire_time"].endswith(("+00:00", "Z"))
    sid = schedule["id"]
    assert client.get("/v1/schedules/nightly", headers=writer).json()["id"] == sid
    assert [s["name"] for s in client.get("/v1/schedules", headers=writer).json()[
        "schedules"]] == ["nightly"]

    paused = client.patch(f"/v1/schedules/{sid}", headers=writer, json={"enabled": False})
    assert paused.status_code == 200 and paused.json()["enabled"] is False
    assert paused.json()["next_fire_time"] is None

    fired = client.post(f"/v1/schedules/{sid}/run", headers=writer)
    assert fired.status_code == 202, fired.text
    eval_id = fired.json()["eval_id"]
    detail = client.get(f"/v1/evals/{eval_id}", headers=writer).json()
    assert detail["schedule_id"] == sid and detail["labels"]["schedule"] == "nightly"
    assert detail["settings"]["grading"] == "score"
    runs = client.get(f"/v1/schedules/{sid}/runs", headers=writer).json()["runs"]
    assert [(r["eval_id"], r["manual"]) for r in runs] == [(eval_id, True)]

    assert client.delete(f"/v1/schedules/{sid}", headers=writer).status_code == 204
    assert client.get(f"/v1/schedules/{sid}", headers=writer).status_code == 404
    assert client.get(f"/v1/evals/{eval_id}", headers=writer).json()["schedule_id"] is None


@pytest.mark.parametrize(("change", "message"), [
    ({"cron": "0 25 * * *"}, "not a valid cron expression"),
    ({"cron": "daily"}, "must have 5 fields"),
    ({"timezone": "Europe/Atlantis"}, "not an IANA time zone"),
    ({"template": {"model": "openai:target", "datasets": ["nope"]}}, "no dataset 'nope'"),
    ({"template": {"model": "bundled:nope", "datasets": ["msb"]}}, "nope"),
    ({"template": {"model": "m", "datasets": ["msb"], "bogus": 1}}, "bogus"),
    ({"webhook_url": "not a url"}, "webhook_url"),
])
def test_bad_input_is_a_422_that_says_what_is_wrong(
        msb: str, client: TestClient, writer: dict[str, str], change: dict[str, Any],
        message: str) -> None:
    answer = client.post("/v1/schedules", headers=writer, json={**BODY, **change})
    assert answer.status_code == 422, answer.text
    assert message in answer.text
    assert client.get("/v1/schedules", headers=writer).json()["schedules"] == []


def test_a_taken_name_is_a_conflict(msb: str, client: TestClient,
                                    writer: dict[str, str]) -> None:
    assert client.post("/v1/schedules", headers=writer, json=BODY).status_code == 201
    assert client.post("/v1/schedules", headers=writer, json=BODY).status_code == 409


def test_reading_needs_a_key_and_writing_the_write_scope(
        msb: str, client: TestClient, reader: dict[str, str]) -> None:
    assert client.get("/v1/schedules").status_code == 401
    assert client.post("/v1/schedules", headers=reader, json=BODY).status_code == 403

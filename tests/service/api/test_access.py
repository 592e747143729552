"""Access: evals, calibrations, fine-tunes and schedules belong to the key that made them
(only it or an admin key changes them), every change is in the audit log (admin only), and
each key's writes are rate-limited."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service import auth, migrate
from service.api.app import create_app
from service.config import get_settings
from service.db import session_scope
from tests.service.api.conftest import add_dataset, make_key

EVAL = {"model": "openai:target", "judge": "openai:judge", "datasets": ["msb"], "limit": 2}
SCHEDULE = {"name": "nightly", "cron": "0 3 * * *",
            "template": {"model": "openai:target", "judge": "openai:judge", "datasets": ["msb"]}}


@pytest.fixture
def other_writer(api_settings: str) -> dict[str, str]:
    return make_key(api_settings, "write")


def _events(client: TestClient, admin: dict[str, str], **query: Any) -> list[dict[str, Any]]:
    answer = client.get("/v1/audit", headers=admin, params=query)
    assert answer.status_code == 200, answer.text
    events: list[dict[str, Any]] = answer.json()["events"]
    return events


def _key_id(headers: dict[str, str], db_url: str) -> int:
    with session_scope(db_url) as session:
        return auth.authenticate(session, headers["Authorization"].removeprefix("Bearer ")).id


def test_only_its_creator_or_an_admin_cancels_an_eval(
        own_queues: str, api_settings: str, client: TestClient, writer: dict[str, str],
        other_writer: dict[str, str], admin: dict[str, str]) -> None:
    add_dataset(api_settings)
    first = client.post("/v1/evals", json=EVAL, headers=writer).json()
    assert first["created_by"] == f"key {_key_id(writer, api_settings)} (test write)"
    refused = client.post(f"/v1/evals/{first['id']}/cancel", headers=other_writer)
    assert refused.status_code == 403, refused.text
    assert "creator" in refused.json()["detail"]
    assert client.get(f"/v1/evals/{first['id']}", headers=writer).json()["status"] == "queued"
    own = client.post(f"/v1/evals/{first['id']}/cancel", headers=writer)
    assert own.json()["status"] == "cancelled"
    second = client.post("/v1/evals", json={**EVAL, "limit": 3}, headers=writer).json()
    by_admin = client.post(f"/v1/evals/{second['id']}/cancel", headers=admin)
    assert by_admin.json()["status"] == "cancelled"


def test_only_its_creator_or_an_admin_cancels_a_calibration(
        own_queues: str, api_settings: str, client: TestClient, writer: dict[str, str],
        other_writer: dict[str, str], admin: dict[str, str]) -> None:
    migrate.prepare_database(api_settings)
    run = client.post("/v1/calibrations", headers=writer,
                      json={"judge": "openai:judge", "set": "builtin:calibration"}).json()
    path = f"/v1/calibrations/{run['id']}/cancel"
    assert client.post(path, headers=other_writer).status_code == 403
    assert client.post(path, headers=admin).json()["status"] == "cancelled"


def test_only_its_creator_or_an_admin_cancels_a_fine_tune(
        own_queues: str, api_settings: str, client: TestClient, writer: dict[str, str],
        other_writer: dict[str, str], admin: dict[str, str]) -> None:
    migrate.prepare_database(api_settings)
    finetune = client.post("/v1/finetunes", headers=writer, json={
        "base": "bundled:smollm2", "datasets": ["builtin:safety-demos"],
        "lora": {"max_steps": 1}}).json()
    path = f"/v1/finetunes/{finetune['id']}/cancel"
    assert client.post(path, headers=other_writer).status_code == 403
    assert client.post(path, headers=writer).json()["status"] == "cancelled"


def test_only_its_creator_or_an_admin_changes_a_schedule(
        own_queues: str, api_settings: str, client: TestClient, writer: dict[str, str],
        other_writer: dict[str, str], admin: dict[str, str]) -> None:
    add_dataset(api_settings)
    created = client.post("/v1/schedules", json=SCHEDULE, headers=writer)
    assert created.status_code == 201, created.text
    schedule_id = created.json()["id"]
    for method, path, body in (("PATCH", "", {"enabled": False}), ("POST", "/run", None),
                               ("DELETE", "", None)):
        answer = client.request(method, f"/v1/schedules/{schedule_id}{path}",
                                headers=other_writer, json=body)
        assert answer.status_code == 403, (method, path, answer.text)
    assert client.get(f"/v1/schedules/{schedule_id}", headers=writer).json()["enabled"]
    # The schedule's evals belong to its creator's key: it may cancel them, others may not.
    run = client.post(f"/v1/schedules/{schedule_id}/run", headers=writer)
    assert run.status_code == 202, run.text
    eval_id = run.json()["eval_id"]
    assert client.post(f"/v1/evals/{eval_id}/cancel", headers=other_writer).status_code == 403
    assert client.post(f"/v1/evals/{eval_id}/cancel", headers=writer).status_code == 200
    assert client.patch(f"/v1/schedules/{schedule_id}", headers=admin,
                        json={"enabled": False}).json()["enabled"] is False
    assert client.delete(f"/v1/schedules/{schedule_id}", headers=writer).status_code == 204


def test_the_audit_log_names_who_did_what(
        own_queues: str, api_settings: str, client: TestClient, writer: dict[str, str],
        reader: dict[str, str], admin: dict[str, str]) -> None:
    writer_id = _key_id(writer, api_settings)
    upload = client.post("/v1/datasets", headers=writer,
                         data={"name": "uploaded", "prompt_column": "request"},
                         files={"file": ("mine.csv", b"request\nfirst one\nsecond one\n")})
    assert upload.status_code == 201, upload.text
    add_dataset(api_settings)
    evaluation = client.post("/v1/evals", json=EVAL, headers=writer).json()
    client.post(f"/v1/evals/{evaluation['id']}/cancel", headers=admin)
    with session_scope(api_settings) as session:
        auth.revoke_key(session, str(writer_id))

    events = _events(client, admin)
    newest_first = [(event["action"], event["key_id"]) for event in events]
    admin_id = _key_id(admin, api_settings)
    assert newest_first[:4] == [("key.revoke", None), ("eval.cancel", admin_id),
                                ("eval.submit", writer_id), ("dataset.import", writer_id)]
    submit = events[2]
    assert submit["target_type"] == "eval" and submit["target_id"] == evaluation["id"]
    assert submit["actor"] == f"key {writer_id} (test write)"
    assert submit["detail"]["n_items"] == 2
    assert events[3]["detail"] == {"created": True, "added": 2}
    assert events[0]["actor"].startswith("cli:")  # revoked from a local process
    # The keys' creation is there too (the fixtures made three, locally).
    created_keys = _events(client, admin, action="key.create")
    assert len(created_keys) == 3 and all(e["actor"].startswith("cli:") for e in created_keys)
    assert [e["action"] for e in _events(client, admin, key_id=writer_id)] == [
        "eval.submit", "dataset.import"]
    assert [e["action"] for e in _events(client, admin, target_type="eval",
                                         target_id=evaluation["id"])] == [
        "eval.cancel", "eval.submit"]


def test_the_audit_log_pages_and_is_for_admins_only(
        api_settings: str, client: TestClient, writer: dict[str, str],
        reader: dict[str, str], admin: dict[str, str]) -> None:
    assert client.get("/v1/audit", headers=reader).status_code == 403
    assert client.get("/v1/audit", headers=writer).status_code == 403
    first = client.get("/v1/audit", headers=admin, params={"limit": 2}).json()
    assert len(first["events"]) == 2 and first["next_cursor"]
    rest = client.get("/v1/audit", headers=admin,
                      params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert len(rest["events"]) == 1 and rest["next_cursor"] is None
    ids = [e["id"] for e in first["events"] + rest["events"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 3
    for cursor in ("[true]", "WzJdXQ", "W3RydWVd", "WzkyMjMzNzIwMzY4NTQ3NzU4MDhd"):
        bad = client.get("/v1/audit", headers=admin, params={"cursor": cursor})
        assert bad.status_code == 422, (cursor, bad.text)
    late = client.get("/v1/audit", headers=admin, params={"since": "0001-01-01T00:00+14:00"})
    assert late.status_code == 422


@pytest.fixture
def limited_client(api_settings: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("MEDSAFE_WRITE_RATE_LIMIT", "3/minute")
    get_settings.cache_clear()
    with TestClient(create_app()) as test_client:
        yield test_client


def test_writes_beyond_a_keys_rate_get_429_with_retry_after(
        own_queues: str, api_settings: str, limited_client: TestClient,
        writer: dict[str, str], other_writer: dict[str, str], reader: dict[str, str]) -> None:
    add_dataset(api_settings)
    answers = [limited_client.post("/v1/evals", json={**EVAL, "limit": n}, headers=writer)
               for n in (1, 2, 3, 4)]
    assert [a.status_code for a in answers] == [202, 202, 202, 429]
    limited = answers[-1]
    assert limited.json()["error"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    # Nothing was written for the refused request; other keys and reads go on.
    listed = limited_client.get("/v1/evals", headers=reader).json()["items"]
    assert sorted(e["n_items"] for e in listed) == [1, 2, 3]
    assert limited_client.post("/v1/evals", json=EVAL, headers=other_writer).status_code == 202
    for _ in range(5):
        assert limited_client.get("/v1/evals", headers=writer).status_code == 200


def test_a_malformed_rate_limit_stops_the_api_from_starting(
        api_settings: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDSAFE_WRITE_RATE_LIMIT", "lots")
    get_settings.cache_clear()
    with pytest.raises(Exception, match="not like '60/minute'"):
        create_app()

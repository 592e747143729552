"""NUL and lone surrogates sent to the API: a 422 naming where, never a 500, nothing stored,
and nobody's later requests broken (on the real PostgreSQL, which cannot store them)."""

from __future__ import annotations

import io
import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from service.db import session_scope
from service.models import Dataset, Eval
from tests.service.api.conftest import add_dataset

BODY = {"model": "bundled:smollm2", "datasets": ["msb"], "limit": 2}


def _evals(url: str) -> int:
    with session_scope(url) as session:
        return session.scalar(select(func.count()).select_from(Eval)) or 0


@pytest.mark.parametrize(("body", "where"), [
    ({**BODY, "labels": {"team": "a\u0000b"}}, "the body.labels.team"),
    ({**BODY, "labels": {"team": "\ud800"}}, "lone surrogate"),
    ({**BODY, "system_prompt": "be\u0000 safe"}, "the body.system_prompt"),
    ({**BODY, "datasets": ["msb\u0000"]}, "the body.datasets[0]"),
])
def test_a_json_body_with_unstorable_text_is_422(
        own_queues: str, api_settings: str, client: TestClient, writer: dict[str, str],
        body: dict[str, object], where: str) -> None:
    add_dataset(api_settings)
    # Escaped as JSON sends them (\u0000, \ud800): what a client's JSON library writes.
    answer = client.post("/v1/evals", content=json.dumps(body),
                         headers={**writer, "content-type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert where in answer.json()["detail"]
    assert _evals(api_settings) == 0


@pytest.mark.parametrize("path", [
    "/v1/evals?label=team%3Da%00b", "/v1/evals?model=x%00", "/v1/datasets/msb%00",
    "/v1/evals/abc%00/results", "/v1/models/m%00/history", "/v1/leaderboard?dataset=d%00",
])
def test_a_parameter_with_nul_is_422_not_500(
        api_settings: str, client: TestClient, reader: dict[str, str], path: str) -> None:
    answer = client.get(path, headers=reader)
    assert answer.status_code == 422, answer.text
    assert "NUL" in answer.json()["detail"]


def test_an_upload_with_nul_in_its_name_or_file_is_422_and_stores_nothing(
        api_settings: str, client: TestClient, writer: dict[str, str]) -> None:
    named = client.post("/v1/datasets", headers=writer, data={"name": "bad\u0000name"},
                        files={"file": ("category_1.csv", io.BytesIO(b"a request\n"))})
    assert named.status_code == 422 and "form field name" in named.json()["detail"]
    binary = client.post("/v1/datasets", headers=writer, data={"name": "bin"},
                         files={"file": ("category_1.csv", io.BytesIO(b"ok\nbad\x00\n"))})
    assert binary.status_code == 422 and "row 2" in binary.json()["detail"]
    with session_scope(api_settings) as session:
        assert session.scalar(select(func.count()).select_from(Dataset)) == 0


def test_the_label_filter_still_works_for_everyone_after_a_refused_label(
        own_queues: str, api_settings: str, client: TestClient, writer: dict[str, str],
        reader: dict[str, str]) -> None:
    add_dataset(api_settings)
    assert client.post("/v1/evals", json={**BODY, "labels": {"t": "\u0000"}},
                       headers=writer).status_code == 422
    assert client.post("/v1/evals", json={**BODY, "labels": {"t": "ok"}},
                       headers=writer).status_code == 202
    listed = client.get("/v1/evals?label=t%3Dok", headers=reader)
    assert listed.status_code == 200 and len(listed.json()["items"]) == 1

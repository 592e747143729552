"""The report routes: a read key suffices, 401 without one, 404 for an unknown eval, 409 for
an HTML report before success; the HTML carries a CSP that forbids every load; the CSV and
JSONL downloads stream every row as an attachment, also of an unfinished eval."""

from __future__ import annotations

import csv
import io
import json

import pytest
from fastapi.testclient import TestClient

from service.db import session_scope
from service.evals.service import EvalRequest, submit_eval
from service.pipeline.engine import SamplingSettings
from tests.service.api.builders import JUDGE
from tests.service.reports.helpers import Tags, hostile_eval, metric_value

ROUTES = ("report.html", "results.csv", "results.jsonl")
N_ITEMS = 19


@pytest.fixture
def eval_id(api_settings: str) -> str:
    return hostile_eval(api_settings)[0]


def _unfinished(db_url: str) -> str:
    request = EvalRequest(model="openai:target", datasets=["msb"], judge=JUDGE,
                          sampling=SamplingSettings(seed=1))
    with session_scope(db_url) as session:
        return submit_eval(session, request, enqueue=False).evaluation.id


@pytest.mark.parametrize("route", ROUTES)
def test_a_key_is_needed_and_a_read_key_suffices(client: TestClient, reader: dict[str, str],
                                                 eval_id: str, route: str) -> None:
    assert client.get(f"/v1/evals/{eval_id}/{route}").status_code == 401
    assert client.get(f"/v1/evals/{eval_id}/{route}", headers=reader).status_code == 200
    missing = client.get(f"/v1/evals/nope/{route}", headers=reader)
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


def test_the_html_report_is_self_contained_and_matches_the_summary(
        client: TestClient, reader: dict[str, str], eval_id: str) -> None:
    answer = client.get(f"/v1/evals/{eval_id}/report.html", headers=reader)
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    csp = answer.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "style-src 'unsafe-inline'" in csp
    assert "img-src data:" in csp
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["content-disposition"] == (
        f'inline; filename="medsafe-{eval_id}-report.html"')
    assert "<script" not in answer.text and "&lt;script&gt;" in answer.text
    summary = client.get(f"/v1/evals/{eval_id}/summary", headers=reader).json()
    metrics = {k: v for k, v in Tags(answer.text).metrics.items()
               if not k.startswith("distribution")}
    assert {"mean_harmfulness", "ci_low", "ci_high", "harmful_rate", "refusal_rate",
            "over_refusal_rate", "n_unscored", "n_disagreements"} <= set(metrics)
    for path, shown in metrics.items():
        assert json.loads(shown) == metric_value(summary, path), path
    etag = answer.headers["etag"]
    again = client.get(f"/v1/evals/{eval_id}/report.html",
                       headers={**reader, "If-None-Match": etag})
    assert again.status_code == 304


def test_the_html_report_lists_as_many_items_as_asked(
        client: TestClient, reader: dict[str, str], eval_id: str) -> None:
    url = f"/v1/evals/{eval_id}/report.html"
    assert client.get(url, params={"items": 2}, headers=reader).text.count(
        '<tr class="item">') == 2
    assert client.get(url, params={"items": 501}, headers=reader).status_code == 422


def test_an_unfinished_eval_has_no_html_report_but_its_rows_so_far(
        client: TestClient, reader: dict[str, str], eval_id: str, api_settings: str) -> None:
    unfinished = _unfinished(api_settings)
    answer = client.get(f"/v1/evals/{unfinished}/report.html", headers=reader)
    assert answer.status_code == 409 and answer.json()["error"] == "conflict"
    assert client.get(f"/v1/evals/{unfinished}/summary", headers=reader).status_code == 409
    rows = client.get(f"/v1/evals/{unfinished}/results.csv", headers=reader)
    assert rows.status_code == 200 and rows.headers["x-medsafe-eval-status"] == "queued"
    assert len(rows.text.splitlines()) == 1  # the header: nothing answered yet


def test_csv_download(client: TestClient, reader: dict[str, str], eval_id: str) -> None:
    answer = client.get(f"/v1/evals/{eval_id}/results.csv", headers=reader)
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.headers["content-disposition"] == (
        f'attachment; filename="medsafe-{eval_id}-results.csv"')
    assert answer.headers["x-medsafe-eval-status"] == "succeeded"
    assert "etag" not in answer.headers  # streamed: never buffered to hash it
    records = list(csv.DictReader(io.StringIO(answer.text, newline="")))
    assert len(records) == N_ITEMS
    assert records[0]["reason"].startswith("'-2+3")
    results = client.get(f"/v1/evals/{eval_id}/results", params={"limit": 500},
                         headers=reader).json()["items"]
    assert [int(r["item_id"]) for r in records] == [r["item_id"] for r in results]
    assert set(records[0]) == set(results[0])


def test_jsonl_download_is_the_results(client: TestClient, reader: dict[str, str],
                                       eval_id: str) -> None:
    answer = client.get(f"/v1/evals/{eval_id}/results.jsonl", headers=reader)
    assert answer.headers["content-type"] == "application/x-ndjson; charset=utf-8"
    assert answer.headers["content-disposition"].endswith('-results.jsonl"')
    results = client.get(f"/v1/evals/{eval_id}/results", params={"limit": 500},
                         headers=reader).json()["items"]
    assert [json.loads(line) for line in answer.text.splitlines()] == results


def test_a_calibration_is_not_an_eval_here(client: TestClient, reader: dict[str, str],
                                           api_settings: str, eval_id: str) -> None:
    from sqlalchemy import update

    from service.models import Eval

    unfinished = _unfinished(api_settings)
    with session_scope(api_settings) as session:
        session.execute(update(Eval).where(Eval.id == unfinished).values(purpose="calibration"))
    for route in ROUTES:
        assert client.get(f"/v1/evals/{unfinished}/{route}", headers=reader).status_code == 404

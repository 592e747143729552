"""GET /metrics: Prometheus' text format, whose numbers move as an eval runs (submitted over
REST, drained by a burst worker around fake engines), with requests labelled by route
template, never by id."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from service.api.app import create_app
from service.config import get_settings
from service.observability.metrics import MedSafeCollector
from service.queue import connection as queue_connection
from service.queue.jobs import queue_name
from service.queue.liveness import mark_alive, mark_gone, process_identity
from tests.fakes import FakeEngine
from tests.service.api.conftest import add_dataset, make_key
from workers.worker import run_worker

TARGET = "fake/target"
JUDGE = "fake/judge"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: TestClient, headers: dict[str, str] | None = None) -> Samples:
    answer = client.get("/metrics", headers=headers or {})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(answer.text)
            for sample in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples of that name whose labels include these (0 where none)."""
    wanted = set(labels.items())
    return sum(v for (n, have), v in samples.items() if n == name and wanted <= have)


@pytest.fixture
def uncached(own_queues: str, api_settings: str,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """A client whose every scrape reads the database and Redis afresh."""
    monkeypatch.setenv("MEDSAFE_METRICS_CACHE_S", "0")
    get_settings.cache_clear()
    with TestClient(create_app()) as test_client:
        yield test_client


def _engines(spec: str) -> FakeEngine:
    if spec == TARGET:
        return FakeEngine(lambda c: "Sure, here is how to do it", TARGET)
    return FakeEngine(lambda c: json.dumps({"reason": "complies", "score": 4}), JUDGE)


def test_metrics_move_as_an_eval_is_submitted_and_run(
        own_queues: str, api_settings: str, uncached: TestClient, writer: dict[str, str],
        reader: dict[str, str]) -> None:
    add_dataset(api_settings)
    before = scrape(uncached)
    assert value(before, "medsafe_metrics_source_up", source="database") == 1
    assert value(before, "medsafe_metrics_source_up", source="redis") == 1

    submitted = uncached.post("/v1/evals", headers=writer, json={
        "model": TARGET, "judge": JUDGE, "datasets": ["msb"], "limit": 6, "shard_size": 2,
        "sampling": {"max_tokens": 16}})
    assert submitted.status_code == 202, submitted.text
    eval_id = submitted.json()["id"]
    generate_queue = queue_name("generate", TARGET, prefix=own_queues)
    queued = scrape(uncached)
    assert value(queued, "medsafe_queue_jobs", queue=generate_queue, state="queued") == 3
    assert value(queued, "medsafe_shards", stage="generate", status="queued") == \
        value(before, "medsafe_shards", stage="generate", status="queued") + 3
    assert value(queued, "medsafe_evals", purpose="benchmark", status="queued") == 1

    run_worker([TARGET], JUDGE, burst=True, name=f"{own_queues}-w", engines=_engines,
               connection=queue_connection.redis_connection(get_settings()),
               db_url=api_settings, prefix=own_queues)
    assert uncached.get(f"/v1/evals/{eval_id}", headers=reader).json()["status"] == "succeeded"

    after = scrape(uncached)
    assert value(after, "medsafe_queue_jobs", queue=generate_queue, state="queued") == 0
    judge_queue = queue_name("judge", JUDGE, prefix=own_queues)
    assert value(after, "medsafe_queue_jobs", queue=judge_queue, state="queued") == 0
    for stage in ("generate", "judge"):
        assert value(after, "medsafe_shards", stage=stage, status="succeeded") == \
            value(before, "medsafe_shards", stage=stage, status="succeeded") + 3
    assert value(after, "medsafe_items_generated_total") == \
        value(before, "medsafe_items_generated_total") + 6
    assert value(after, "medsafe_items_generated_total", finish_reason="stop") == 6
    for grader in ("judge", "refusal_detector"):  # every answer: a grade and a refusal class
        assert value(after, "medsafe_items_judged_total", grader=grader) == \
            value(before, "medsafe_items_judged_total", grader=grader) + 6
    assert value(after, "medsafe_items_judged_total", grader="judge", status="scored") == 6
    # "Sure, here is how to do it": 7 words a response, as the fake engine counts tokens
    assert value(after, "medsafe_output_tokens_total") == \
        value(before, "medsafe_output_tokens_total") + 42
    assert value(after, "medsafe_prompt_tokens_total") > 0
    assert value(after, "medsafe_eval_duration_seconds_count", status="succeeded") == 1
    assert value(after, "medsafe_eval_duration_seconds_bucket", status="succeeded",
                 le="+Inf") == 1
    assert value(after, "medsafe_evals", purpose="benchmark", status="succeeded") == 1
    # the worker said goodbye: no live worker, its RQ registration gone
    assert value(after, "medsafe_workers_live") == 0

    # Requests are counted by route template, and no id ever becomes a label.
    posts = value(after, "medsafe_http_requests_total", method="POST", route="/v1/evals",
                  status="202")
    assert posts == 1
    assert value(after, "medsafe_http_requests_total", method="GET",
                 route="/v1/evals/{eval_id}", status="200") == 1
    assert value(after, "medsafe_http_requests_total", route="/metrics") == \
        value(before, "medsafe_http_requests_total", route="/metrics") + 2
    assert value(after, "medsafe_http_request_duration_seconds_count",
                 route="/v1/evals/{eval_id}") == 1
    labels = {v for (_, have), _ in after.items() for _, v in have}
    assert not any(eval_id in label for label in labels)


def test_unrouted_and_refused_requests_are_labelled_without_their_path(
        own_queues: str, uncached: TestClient) -> None:
    uncached.get("/no/such/path/0123456789abcdef")
    uncached.request("BREW", "/v1/evals")
    refused = uncached.post("/v1/evals/0123456789abcdef/cancel", json={})
    assert refused.status_code == 401  # the body guard answers before any route runs
    samples = scrape(uncached)
    assert value(samples, "medsafe_http_requests_total", route="unmatched",
                 status="404") == 1
    assert value(samples, "medsafe_http_requests_total", method="POST",
                 route="/v1/evals/{eval_id}/cancel", status="401") == 1
    assert value(samples, "medsafe_http_requests_total", method="other",
                 route="/v1/evals", status="405") == 1
    labels = {v for (_, have), _ in samples.items() for _, v in have}
    assert not any("0123456789abcdef" in label for label in labels)


def test_live_workers_and_their_heartbeat_ages(own_queues: str, uncached: TestClient) -> None:
    connection = queue_connection.redis_connection(get_settings())
    mark_alive(connection, "gpu-1", process_identity(), own_queues)
    try:
        samples = scrape(uncached)
        assert value(samples, "medsafe_workers_live") == 1
        age = value(samples, "medsafe_worker_heartbeat_age_seconds", worker="gpu-1")
        assert 0 <= age < 5
    finally:
        mark_gone(connection, "gpu-1", own_queues)
    assert value(scrape(uncached), "medsafe_workers_live") == 0


def test_the_key_is_required_only_when_configured(
        api_settings: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDSAFE_METRICS_KEY_REQUIRED", "true")
    get_settings.cache_clear()
    with TestClient(create_app()) as client:
        assert client.get("/metrics").status_code == 401
        scrape(client, make_key(api_settings, "read"))


def test_a_scrape_reads_the_sources_once_per_cache_interval(api_settings: str) -> None:
    reads: list[str] = []
    now = [100.0]

    def url() -> str:
        reads.append("database")
        return api_settings

    collector = MedSafeCollector(url, lambda: queue_connection.redis_connection(),
                                 lambda: "unused-prefix", cache_s=10, clock=lambda: now[0])
    first = list(collector.collect())
    assert list(collector.collect()) == first and reads == ["database"]
    now[0] += 10
    collector.collect()
    assert reads == ["database", "database"]


def test_a_source_that_fails_is_reported_down_and_the_scrape_still_answers(
        api_settings: str) -> None:
    def broken() -> str:
        raise ConnectionError("no database")

    collector = MedSafeCollector(broken, lambda: queue_connection.redis_connection(),
                                 lambda: "unused-prefix", cache_s=0)
    up = {s.labels["source"]: s.value for m in collector.collect()
          if m.name == "medsafe_metrics_source_up" for s in m.samples}
    assert up == {"database": 0, "redis": 1}

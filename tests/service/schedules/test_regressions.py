"""Regression verdicts on constructed scheduled evals whose judgments differ by a known amount,
and the webhook notifications they send: signed, retried, every attempt recorded."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from service.config import get_settings
from service.db import session_scope
from service.models import Eval, Notification
from service.queue import connection as queue_connection
from tests.service.api.conftest import add_dataset
from tests.service.schedules.helpers import finished_scheduled_eval, make_schedule
from workers.notify import SIGNATURE_HEADER, TIMESTAMP_HEADER
from workers.worker import run_worker

T0 = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
SECRET = "s3cret-for-tests"


def _eval(db_url: str, eval_id: str) -> Eval:
    with session_scope(db_url) as session:
        evaluation = session.get(Eval, eval_id)
        assert evaluation is not None
        return evaluation


def test_a_known_rise_is_a_regression_and_identical_grades_are_not(api_settings: str) -> None:
    add_dataset(api_settings, per_principle=10)  # 90 harmful items, 10 per principle
    schedule = make_schedule(api_settings, created_at=T0 - timedelta(days=1))
    first = finished_scheduled_eval(api_settings, schedule, T0, lambda n: 1 + n % 2)
    same = finished_scheduled_eval(api_settings, schedule, T0 + timedelta(days=1),
                                   lambda n: 1 + n % 2)
    worse = finished_scheduled_eval(api_settings, schedule, T0 + timedelta(days=2),
                                    lambda n: 4 + n % 2)  # every score up by 3

    assert _eval(api_settings, first).regressed is None
    assert "first successful eval" in _eval(api_settings, first).regression["reason"]
    unchanged = _eval(api_settings, same)
    assert unchanged.regressed is False
    assert unchanged.regression["mean_harmfulness"]["delta"] == pytest.approx(0.0)
    rose = _eval(api_settings, worse)
    assert rose.regressed is True
    verdict = rose.regression
    assert verdict["compared_with"] == same and verdict["also_differs"] == {}
    assert verdict["mean_harmfulness"]["delta"] == pytest.approx(3.0)
    assert verdict["mean_harmfulness"]["ci_low"] > verdict["mean_harmfulness"]["threshold"]
    assert verdict["harmful_rate"]["delta"] == pytest.approx(1.0)
    assert all(p["regressed"] for p in verdict["by_principle"].values())


def test_a_few_items_that_rose_are_no_regression(api_settings: str) -> None:
    add_dataset(api_settings, per_principle=1)  # 9 harmful items: below MIN_PAIRS
    schedule = make_schedule(api_settings, created_at=T0 - timedelta(days=1))
    finished_scheduled_eval(api_settings, schedule, T0, lambda n: 1)
    worse = finished_scheduled_eval(api_settings, schedule, T0 + timedelta(days=1),
                                    lambda n: 5)
    verdict = _eval(api_settings, worse).regression
    assert verdict["mean_harmfulness"]["delta"] == pytest.approx(4.0)
    assert verdict["mean_harmfulness"]["n_pairs"] == 9
    assert verdict["regressed"] is False  # too few pairs to call it, however large the rise


def test_a_rise_below_the_threshold_or_within_noise_is_not_a_regression(
        api_settings: str) -> None:
    add_dataset(api_settings, per_principle=6)
    schedule = make_schedule(api_settings, created_at=T0 - timedelta(days=1),
                             mean_threshold=0.5, harmful_rate_threshold=0.5)
    finished_scheduled_eval(api_settings, schedule, T0, lambda n: 1)
    # A quarter of the items up by one: delta 0.25, CI above zero but under 0.5.
    slight = finished_scheduled_eval(api_settings, schedule, T0 + timedelta(days=1),
                                     lambda n: 2 if n % 4 == 0 else 1)
    verdict = _eval(api_settings, slight).regression
    assert verdict["mean_harmfulness"]["ci_low"] > 0
    assert verdict["mean_harmfulness"]["regressed"] is False
    assert _eval(api_settings, slight).regressed is False


def test_evals_graded_differently_are_not_compared(api_settings: str) -> None:
    add_dataset(api_settings)
    schedule = make_schedule(api_settings, created_at=T0 - timedelta(days=1))
    finished_scheduled_eval(api_settings, schedule, T0, lambda n: 1)
    other = finished_scheduled_eval(api_settings, schedule, T0 + timedelta(days=1),
                                    lambda n: 5, judge="openai:another-judge")
    evaluation = _eval(api_settings, other)
    assert evaluation.regressed is None
    assert "graded differently" in evaluation.regression["reason"]
    assert "judge" in evaluation.regression["reason"]


class _Receiver:
    """A local webhook receiver that answers with the statuses it is given, in turn."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.calls: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver.statuses[min(len(receiver.calls), len(receiver.statuses)) - 1]
                self.send_response(status)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(autouse=True)
def local_webhooks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The receivers here listen on 127.0.0.1, an address webhooks may not call by default."""
    monkeypatch.setenv("MEDSAFE_WEBHOOK_ALLOW_PRIVATE", "true")
    get_settings.cache_clear()


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    ok = _Receiver([200])
    yield ok
    ok.server.shutdown()


def _work(own_queues: str, db_url: str) -> None:
    """A burst worker that delivers what is queued (no model needed)."""
    def no_model(spec: str) -> Any:
        raise AssertionError(f"no model is needed to deliver webhooks, yet {spec} was asked")

    run_worker(["fake/model"], "fake/judge", burst=True, name=f"{own_queues}-w",
               engines=no_model, connection=queue_connection.redis_connection(get_settings()),
               db_url=db_url, prefix=own_queues)


def test_a_regression_is_posted_signed_to_the_webhook(
        api_settings: str, own_queues: str, receiver: _Receiver) -> None:
    add_dataset(api_settings)
    schedule = make_schedule(api_settings, created_at=T0 - timedelta(days=1),
                             webhook_url=receiver.url, webhook_secret=SECRET)
    finished_scheduled_eval(api_settings, schedule, T0, lambda n: 1)
    worse = finished_scheduled_eval(api_settings, schedule, T0 + timedelta(days=1),
                                    lambda n: 5)
    _work(own_queues, api_settings)

    [(headers, body)] = receiver.calls
    expected = hmac.new(SECRET.encode(), headers[TIMESTAMP_HEADER.lower()].encode() + b"."
                        + body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER.lower()] == f"sha256={expected}"
    payload = json.loads(body)
    assert payload["event"] == "regression" and payload["eval"]["id"] == worse
    assert payload["regression"]["regressed"] is True
    with session_scope(api_settings) as session:
        notification = session.scalars(select(Notification)).one()
    assert notification.status == "delivered" and len(notification.attempts) == 1
    assert notification.attempts[0]["status_code"] == 200


def test_a_failing_webhook_is_retried_then_recorded_and_the_eval_is_untouched(
        api_settings: str, own_queues: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDSAFE_WEBHOOK_RETRY_DELAYS", "[0, 0]")  # two retries, no wait
    get_settings.cache_clear()
    failing = _Receiver([500, 503, 500])
    add_dataset(api_settings)
    schedule = make_schedule(api_settings, created_at=T0 - timedelta(days=1),
                             webhook_url=failing.url)
    failed = finished_scheduled_eval(api_settings, schedule, T0, lambda n: 1,
                                     fail="judge shard 0: the judge fell over")
    _work(own_queues, api_settings)
    failing.server.shutdown()

    assert len(failing.calls) == 3  # the first attempt and two retries
    assert json.loads(failing.calls[0][1])["event"] == "failed"
    assert SIGNATURE_HEADER.lower() not in failing.calls[0][0]  # no secret, no signature
    with session_scope(api_settings) as session:
        notification = session.scalars(select(Notification)).one()
    assert notification.status == "failed"
    assert [a["status_code"] for a in notification.attempts] == [500, 503, 500]
    evaluation = _eval(api_settings, failed)
    assert evaluation.status == "failed" and "judge fell over" in (evaluation.error or "")


def test_regressed_evals_are_filtered_over_rest(
        api_settings: str, client: TestClient, reader: dict[str, str]) -> None:
    add_dataset(api_settings)
    schedule = make_schedule(api_settings, created_at=T0 - timedelta(days=1))
    finished_scheduled_eval(api_settings, schedule, T0, lambda n: 1)
    worse = finished_scheduled_eval(api_settings, schedule, T0 + timedelta(days=1),
                                    lambda n: 5)
    flagged = client.get("/v1/evals", headers=reader, params={"regression": "true"}).json()
    assert [e["id"] for e in flagged["items"]] == [worse]
    detail = client.get(f"/v1/evals/{worse}", headers=reader).json()
    assert detail["regressed"] is True and detail["schedule_id"] == schedule
    assert detail["regression"]["mean_harmfulness"]["delta"] == pytest.approx(4.0)
    others = client.get("/v1/evals", headers=reader, params={"regression": "false"}).json()
    assert len(others["items"]) == 1


def test_a_notification_redis_missed_is_queued_by_the_reconciler(
        api_settings: str, own_queues: str, receiver: _Receiver,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from redis.exceptions import ConnectionError as RedisDown

    from service.evals.reconcile import reconcile
    from service.queue import jobs

    def redis_is_down(*_args: Any, **_kwargs: Any) -> None:
        raise RedisDown("Redis is down")

    add_dataset(api_settings)
    schedule = make_schedule(api_settings, created_at=T0 - timedelta(days=1),
                             webhook_url=receiver.url)
    with monkeypatch.context() as patched:
        patched.setattr(jobs, "enqueue_notification", redis_is_down)
        failed = finished_scheduled_eval(api_settings, schedule, T0, lambda n: 1,
                                         fail="generate shard 0: out of memory")
    _work(own_queues, api_settings)
    assert receiver.calls == []  # nothing was queued while Redis was down
    report = reconcile(queue_connection.redis_connection(get_settings()), api_settings,
                       own_queues, grace_s=0)
    assert len(report.notifications) == 1
    _work(own_queues, api_settings)
    [(_headers, body)] = receiver.calls
    assert json.loads(body)["eval"]["id"] == failed


def test_a_webhook_to_an_internal_address_is_refused_and_recorded(
        api_settings: str, own_queues: str, receiver: _Receiver,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDSAFE_WEBHOOK_ALLOW_PRIVATE", "false")
    get_settings.cache_clear()
    add_dataset(api_settings)
    schedule = make_schedule(api_settings, created_at=T0 - timedelta(days=1),
                             webhook_url=receiver.url)
    finished_scheduled_eval(api_settings, schedule, T0, lambda n: 1, fail="it broke")
    _work(own_queues, api_settings)
    assert receiver.calls == []
    with session_scope(api_settings) as session:
        notification = session.scalars(select(Notification)).one()
    assert notification.status == "failed"
    [attempt] = notification.attempts  # refused once, not retried
    assert "refused" in attempt["error"] and "internal address" in attempt["error"]

"""The dashboard without a browser: the login session and its cookie, CSRF on every form,
every page behind a live key, the same answers as the API, and untrusted text escaped."""

from __future__ import annotations

import html
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from service import auth, migrate
from service.api.app import create_app
from service.audit import key_actor
from service.config import get_settings
from service.db import session_scope
from service.evals import service as evals
from service.models import Eval
from service.pipeline.engine import SamplingSettings
from service.queue import connection as queue_connection
from tests.service.api.conftest import add_dataset
from tests.service.api.test_calibrations import _no_model
from tests.service.schedules.helpers import finished_scheduled_eval, make_schedule
from tests.service.ui.conftest import HOSTILE_LABEL, csrf_of, hostile_results, login
from workers.worker import run_worker

PAGES = ["/ui/evals", "/ui/compare", "/ui/history", "/ui/leaderboard", "/ui/schedules",
         "/ui/calibrations"]


def _cookies(answer: object) -> dict[str, str]:
    """Set-Cookie headers by cookie name."""
    headers = answer.headers.get_list("set-cookie")  # type: ignore[attr-defined]
    return {h.split("=", 1)[0]: h for h in headers}


@pytest.mark.parametrize("page", [*PAGES, "/ui/evals/anything"])
def test_pages_without_a_key_redirect_to_the_login(client: TestClient, page: str) -> None:
    answer = client.get(page, params={"x": "1"}, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/ui/login?next=%2Fui%2F")
    assert client.get("/ui/login").status_code == 200


def test_login_keeps_the_key_in_an_httponly_strict_cookie(client: TestClient,
                                                          reader: dict[str, str]) -> None:
    page = client.get("/ui/login")
    assert page.status_code == 200
    assert "HttpOnly" in _cookies(page)["medsafe_ui_csrf"]
    token = csrf_of(page.text)
    key = reader["Authorization"].removeprefix("Bearer ")
    answer = client.post("/ui/login", data={"key": key, "csrf": token, "next": "/ui/schedules"},
                         follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/schedules"
    cookie = _cookies(answer)["medsafe_ui_key"]
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    assert "Path=/ui" in cookie and "Secure" not in cookie  # plain http: no Secure
    assert _cookies(answer)["medsafe_ui_csrf"] != token  # a new session, a new token
    for page_url in PAGES:
        assert client.get(page_url).status_code == 200, page_url


def test_over_https_the_cookies_are_secure(api_settings: str, reader: dict[str, str]) -> None:
    with TestClient(create_app(), base_url="https://testserver") as secure:
        token = csrf_of(secure.get("/ui/login").text)
        answer = secure.post("/ui/login", data={
            "key": reader["Authorization"].removeprefix("Bearer "), "csrf": token},
            follow_redirects=False)
        assert answer.status_code == 303
        assert all("Secure" in c for c in _cookies(answer).values())


def test_a_wrong_key_is_refused_and_no_session_starts(client: TestClient) -> None:
    token = csrf_of(client.get("/ui/login").text)
    answer = client.post("/ui/login", data={"key": "msk_000000000000nothing", "csrf": token},
                         follow_redirects=False)
    assert answer.status_code == 401
    assert "the API key is not valid" in answer.text
    assert "medsafe_ui_key" not in _cookies(answer)
    assert client.get("/ui/evals", follow_redirects=False).status_code == 303


def test_the_next_page_after_login_is_never_another_site(client: TestClient,
                                                         reader: dict[str, str]) -> None:
    key = reader["Authorization"].removeprefix("Bearer ")
    for target in ("//evil.example/x", "https://evil.example/", "/ui\\@evil", "/v1/evals"):
        token = csrf_of(client.get("/ui/login").text)
        answer = client.post("/ui/login", data={"key": key, "csrf": token, "next": target},
                             follow_redirects=False)
        assert answer.headers["location"] == "/ui/evals", target


def test_forms_without_the_csrf_token_are_refused(client: TestClient,
                                                  reader: dict[str, str]) -> None:
    key = reader["Authorization"].removeprefix("Bearer ")
    client.get("/ui/login")  # the CSRF cookie
    for sent in ({"key": key}, {"key": key, "csrf": "forged-token-of-enough-length"}):
        answer = client.post("/ui/login", data=sent, follow_redirects=False)
        assert answer.status_code == 403 and "CSRF" in answer.text
        assert "medsafe_ui_key" not in _cookies(answer)
    token = login(client, reader)
    assert client.post("/ui/logout", data={}, follow_redirects=False).status_code == 403
    answer = client.post("/ui/logout", data={"csrf": token}, headers={
        "origin": "https://evil.example"}, follow_redirects=False)
    assert answer.status_code == 403
    assert client.get("/ui/evals").status_code == 200  # still logged in


def test_logout_ends_the_session(client: TestClient, reader: dict[str, str]) -> None:
    token = login(client, reader)
    answer = client.post("/ui/logout", data={"csrf": token}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/login"
    assert all("Max-Age=0" in c or "expires=" in c.lower() for c in _cookies(answer).values())
    assert client.get("/ui/evals", follow_redirects=False).status_code == 303


def test_a_revoked_key_ends_the_session_at_once(client: TestClient, api_settings: str,
                                               reader: dict[str, str]) -> None:
    login(client, reader)
    with session_scope(api_settings) as session:
        auth.revoke_key(session, reader["Authorization"].removeprefix("Bearer "))
    answer = client.get("/ui/evals", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/ui/login")


def test_a_post_without_a_live_session_is_not_read(client: TestClient) -> None:
    answer = client.post("/ui/evals/x/cancel", content=b"csrf=x" * 10,
                         headers={"content-type": "application/x-www-form-urlencoded"},
                         follow_redirects=False)
    assert answer.status_code == 303
    big = client.post("/ui/login", content=b"k=" + b"x" * 20_000,
                      headers={"content-type": "application/x-www-form-urlencoded"})
    assert big.status_code == 413


def test_pages_show_the_stored_results_escaped(client: TestClient, api_settings: str,
                                               reader: dict[str, str]) -> None:
    base, candidate = hostile_results(api_settings)
    make_schedule(api_settings)
    login(client, reader)
    listing = client.get("/ui/evals")
    assert listing.status_code == 200
    assert base in listing.text and candidate in listing.text
    assert html.escape(HOSTILE_LABEL, quote=False) in listing.text
    assert HOSTILE_LABEL not in listing.text
    assert client.get("/ui/evals", params={"model": "openai:candidate"}).text.count(
        'data-eval="') == 1
    assert base in client.get("/ui/evals", params={"label": f"team={HOSTILE_LABEL}"}).text

    page = client.get(f"/ui/evals/{base}")
    assert page.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script>alert(1)" not in page.text and "<img src=x" not in page.text
    assert page.text.count('<rect class="bar"') >= 9  # the per-principle bars
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert page.headers["cache-control"] == "no-store"
    only_3 = client.get(f"/ui/evals/{base}", params={"principle": "3"}).text
    assert only_3.count('data-principle="3"') == 2 and 'data-principle="4"' not in only_3
    assert client.get(f"/ui/evals/{base}", params={"principle": "12"}).status_code == 422

    compare = client.get("/ui/compare", params={"base": base, "candidate": candidate})
    assert compare.status_code == 200 and 'id="delta-chart"' in compare.text
    history = client.get("/ui/history", params={"model": "openai:target", "dataset": "msb"})
    assert history.status_code == 200 and 'id="history-chart"' in history.text
    board = client.get("/ui/leaderboard", params={"dataset": "msb"})
    assert "openai:candidate" in board.text and "openai:target" in board.text
    assert "nightly" in client.get("/ui/schedules").text
    assert client.get("/ui/evals/nope").status_code == 404


def test_cancel_needs_the_owner_and_the_csrf_token(client: TestClient, api_settings: str,
                                                   reader: dict[str, str],
                                                   writer: dict[str, str]) -> None:
    add_dataset(api_settings)
    with session_scope(api_settings) as session:
        key = auth.authenticate(session, writer["Authorization"].removeprefix("Bearer "))
        request = evals.EvalRequest(model="openai:target", datasets=["msb"],
                                    judge="openai:judge", sampling=SamplingSettings(seed=1),
                                    creator=key_actor(key))
        eval_id = evals.submit_eval(session, request, enqueue=False).evaluation.id
    token = login(client, reader)
    assert 'id="cancel"' not in client.get(f"/ui/evals/{eval_id}").text
    assert client.post(f"/ui/evals/{eval_id}/cancel", data={"csrf": token},
                       follow_redirects=False).status_code == 403
    token = login(client, writer)
    page = client.get(f"/ui/evals/{eval_id}")
    assert 'id="cancel"' in page.text and 'data-live="3000"' in page.text
    assert client.post(f"/ui/evals/{eval_id}/cancel", data={},
                       follow_redirects=False).status_code == 403
    answer = client.post(f"/ui/evals/{eval_id}/cancel", data={"csrf": token},
                         follow_redirects=False)
    assert answer.status_code == 303
    with session_scope(api_settings) as session:
        evaluation = session.get(Eval, eval_id)
        assert evaluation is not None and evaluation.status == "cancelled"


def test_docs_are_served_from_the_package(client: TestClient) -> None:
    for page, asset in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
        answer = client.get(page)
        assert answer.status_code == 200
        assert f"/static-offline-docs/{asset}" in answer.text
        assert "cdn.jsdelivr.net" not in answer.text and "unpkg.com" not in answer.text
        assert client.get(f"/static-offline-docs/{asset}").status_code == 200


def test_history_marks_regressions_and_schedules_list_their_evals(
        client: TestClient, api_settings: str, reader: dict[str, str]) -> None:
    add_dataset(api_settings)
    schedule = make_schedule(api_settings, created_at=datetime(2026, 1, 1, tzinfo=UTC))
    safe = finished_scheduled_eval(api_settings, schedule, datetime(2026, 1, 2, tzinfo=UTC),
                                   lambda n: 1)
    worse = finished_scheduled_eval(api_settings, schedule, datetime(2026, 1, 3, tzinfo=UTC),
                                    lambda n: 5)
    login(client, reader)
    history = client.get("/ui/history", params={"model": "openai:target", "dataset": "msb"})
    assert history.text.count('class="regressed"') == 1
    assert history.text.count('class="point"') == 1
    regressed = client.get("/ui/evals", params={"regression": "true"}).text
    assert worse in regressed and safe not in regressed
    runs = client.get("/ui/schedules").text
    assert worse in runs and safe in runs and "regressed" in runs
    listed = client.get("/ui/evals", params={"schedule": schedule}).text
    assert listed.count('data-eval="') == 2


def test_calibration_runs_show_their_agreement(own_queues: str, api_settings: str,
                                               client: TestClient, writer: dict[str, str],
                                               reader: dict[str, str]) -> None:
    migrate.prepare_database(api_settings)
    created = client.post("/v1/calibrations", headers=writer,
                          json={"judge": "refusal-detector", "set": "builtin:calibration"})
    run_id = created.json()["id"]
    login(client, reader)
    queued = client.get("/ui/calibrations").text
    assert run_id in queued and 'data-live="5000"' in queued
    run_worker(["fake/model"], "fake/judge", burst=True, name=f"{own_queues}-w",
               engines=_no_model, connection=queue_connection.redis_connection(get_settings()),
               db_url=api_settings, prefix=own_queues)
    read = client.get("/v1/calibrations/" + run_id, headers=reader).json()
    agreement = f"{read['report']['refusal']['agreement'] * 100:.1f}%"
    page = client.get("/ui/calibrations", params={"judge": "refusal-detector"}).text
    assert run_id in page and "status-succeeded" in page and agreement in page
    assert 'data-live="5000"' not in page
    assert client.get(f"/ui/evals/{run_id}").status_code == 404  # not a benchmark eval

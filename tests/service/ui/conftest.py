"""Dashboard test fixtures: the API's fixtures, stored results with hostile text, and a
logged-in TestClient."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from service.db import session_scope
from service.models import Eval, Response
from tests.service.api.builders import finished_eval
from tests.service.api.conftest import (  # noqa: F401 - fixtures, used by name
    add_dataset,
    api_settings,
    client,
    make_key,
    own_queues,
    reader,
    writer,
)

HOSTILE = "<script>alert(1)</script> and <img src=x onerror=\"window.__pwned=1\">"
HOSTILE_LABEL = "<b onmouseover=alert(2)>team</b>"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "browser: drives a real headless Chromium (tests/service/ui; -m browser)")


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field in the page"
    return found.group(1)


def login(http: TestClient, headers: dict[str, str]) -> str:
    """Log the client in with the key of `headers` (as make_key returns); the CSRF token."""
    key = headers["Authorization"].removeprefix("Bearer ")
    token = csrf_of(http.get("/ui/login").text)
    answer = http.post("/ui/login", data={"key": key, "csrf": token, "next": "/ui/evals"},
                         follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return csrf_of(http.get("/ui/evals").text)


def hostile_results(db_url: str, per_principle: int = 2) -> tuple[str, str]:
    """Two finished evals of dataset msb (base and candidate, the candidate less harmful);
    the base's first answer is hostile markup and it carries a hostile label."""
    add_dataset(db_url, per_principle=per_principle)
    base = finished_eval(db_url, labels={"team": HOSTILE_LABEL}, score_offset=2)
    candidate = finished_eval(db_url, model="openai:candidate", score_offset=0)
    with session_scope(db_url) as session:
        first = session.scalars(select(Response.item_id).where(Response.eval_id == base)
                                .order_by(Response.item_id)).first()
        session.execute(update(Response).where(Response.eval_id == base,
                                               Response.item_id == first)
                        .values(text=HOSTILE))
        assert session.get(Eval, base) is not None
    return base, candidate

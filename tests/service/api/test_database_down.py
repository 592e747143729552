"""The database stops answering (a proxy in front of the real PostgreSQL refuses and drops
connections): the API answers 503 with Retry-After, /readyz says which dependency failed, and
once the database is back the same app answers again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.api.errors import DATABASE_RETRY_AFTER_S
from tests.conftest import POSTGRES_URL
from tests.faults.tcp_proxy import TcpProxy, proxied_postgres
from tests.service.api.conftest import _api_redis_url, make_key
from tests.settings_support import medsafe_settings

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="needs the real PostgreSQL")
EVAL = {"model": "openai:target", "judge": "openai:judge", "datasets": ["nosuch"]}


@pytest.fixture
def proxied(monkeypatch: pytest.MonkeyPatch,
            tmp_path: Path) -> Iterator[tuple[TcpProxy, TestClient, str]]:
    """The app on a fresh PostgreSQL schema reached through the proxy; its database URL."""
    from tests.conftest import migrated_postgres_schema

    with migrated_postgres_schema() as url, proxied_postgres(url) as (proxy, through), \
            medsafe_settings(monkeypatch, through, tmp_path / "data", _api_redis_url()), \
            TestClient(create_app(), raise_server_exceptions=False) as client:
        yield proxy, client, url


def _unavailable(response: Any) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == str(DATABASE_RETRY_AFTER_S)
    assert response.json()["error"] == "database_unavailable"


def test_the_api_answers_503_while_the_database_is_down_and_recovers(
        proxied: tuple[TcpProxy, TestClient, str]) -> None:
    proxy, client, url = proxied
    reader, writer = make_key(url, "read"), make_key(url, "write")
    assert client.get("/v1/evals", headers=reader).status_code == 200
    with proxy.down():
        _unavailable(client.get("/v1/evals", headers=reader))  # a route's unit of work
        _unavailable(client.post("/v1/evals", json=EVAL, headers=writer))  # the body guard
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"].startswith("unreachable")
        assert client.get("/healthz").status_code == 200
    assert client.get("/v1/evals", headers=reader).status_code == 200
    assert client.get("/readyz").status_code == 200


def test_a_connection_dropped_mid_request_is_a_503(
        proxied: tuple[TcpProxy, TestClient, str]) -> None:
    proxy, client, url = proxied
    reader = make_key(url, "read")
    assert client.get("/v1/evals", headers=reader).status_code == 200  # a pooled connection
    proxy.cut()  # the pooled connection dies with the server
    try:
        _unavailable(client.get("/v1/evals", headers=reader))
    finally:
        proxy.restore()
    assert client.get("/v1/evals", headers=reader).status_code == 200

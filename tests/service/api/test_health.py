"""/healthz and /readyz: open probes; /readyz is 503 naming the dependency that failed."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.config import get_settings


def test_ready_when_database_and_redis_answer(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "queue": "ok"}}


def test_not_ready_when_redis_is_unreachable(api_settings: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDSAFE_REDIS_URL", "redis://127.0.0.1:1/0")
    get_settings.cache_clear()
    with TestClient(create_app()) as client:
        response = client.get("/readyz")
        assert client.get("/healthz").status_code == 200
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"] == "ok"
    assert checks["queue"].startswith("unreachable")


def test_not_ready_when_the_database_is_unreachable(api_settings: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDSAFE_DATABASE_URL", "sqlite:////nonexistent-dir/medsafe.db")
    get_settings.cache_clear()
    with TestClient(create_app()) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "unreachable (OperationalError)"
    assert response.json()["checks"]["queue"] == "ok"

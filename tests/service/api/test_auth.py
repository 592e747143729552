"""API keys: hashed storage, 401 without a valid key, 403 without the scope."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from service import auth
from service.db import session_scope
from service.errors import InvalidInput
from service.models import ApiKey
from tests.service.api.conftest import make_key


def test_only_a_hash_of_the_key_is_stored(api_settings: str) -> None:
    with session_scope(api_settings) as session:
        created = auth.create_key(session, "ci", ["read", "write"])
    with session_scope(api_settings) as session:
        row = session.scalars(select(ApiKey)).one()
        assert created.key.startswith("msk_" + row.prefix)
        assert created.key.removeprefix("msk_" + row.prefix) not in row.hashed_secret
        assert row.scopes == ["read", "write"]
        assert auth.authenticate(session, created.key).id == row.id


def test_unknown_scopes_are_refused(api_settings: str) -> None:
    with session_scope(api_settings) as session, pytest.raises(InvalidInput, match="scope"):
        auth.create_key(session, "ci", ["read", "superuser"])


@pytest.mark.parametrize("header", [
    None, "Bearer ", "Bearer msk_", "Bearer not-a-key", "Basic dXNlcjpwYXNz",
])
def test_missing_or_malformed_keys_get_401(client: TestClient, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    response = client.get("/v1/evals", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["error"] == "unauthorized"


def test_a_wrong_secret_with_a_real_prefix_gets_401(client: TestClient,
                                                    reader: dict[str, str]) -> None:
    forged = reader["Authorization"][:-4] + "AAAA"
    response = client.get("/v1/evals", headers={"Authorization": forged})
    assert response.status_code == 401


def test_a_revoked_key_gets_401(client: TestClient, api_settings: str,
                                reader: dict[str, str]) -> None:
    assert client.get("/v1/evals", headers=reader).status_code == 200
    with session_scope(api_settings) as session:
        auth.revoke_key(session, reader["Authorization"].removeprefix("Bearer "))
    response = client.get("/v1/evals", headers=reader)
    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized", "detail": "the API key was revoked"}


def test_a_read_key_cannot_write(client: TestClient, reader: dict[str, str]) -> None:
    response = client.post("/v1/evals/abc/cancel", headers=reader)
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    assert "'write'" in response.json()["detail"]


def test_admin_implies_write_implies_read(client: TestClient, api_settings: str) -> None:
    for scopes in (("admin",), ("write",)):
        headers = make_key(api_settings, *scopes)
        assert client.get("/v1/evals", headers=headers).status_code == 200
        # Authorised to cancel: the 404 comes from the missing eval, not from auth.
        assert client.post("/v1/evals/nope/cancel", headers=headers).status_code == 404


def test_every_endpoint_but_health_docs_and_metrics_needs_a_key(client: TestClient) -> None:
    # /metrics shows counts only and is open unless MEDSAFE_METRICS_KEY_REQUIRED
    # (tests/service/api/test_metrics.py proves both ways).
    open_paths = {"/healthz", "/readyz", "/docs", "/docs/oauth2-redirect", "/redoc",
                  "/openapi.json", "/metrics"}
    schema = client.get("/openapi.json").json()
    checked = 0
    for path, operations in schema["paths"].items():
        for method in operations:
            url = path.replace("{eval_id}", "x").replace("{dataset}", "x")
            response = client.request(method.upper(), url)
            if path in open_paths:
                assert response.status_code != 401, path
            else:
                assert response.status_code == 401, f"{method} {path}"
                checked += 1
    assert checked >= 9
    assert client.get("/healthz").json() == {"status": "ok", "checks": {}}
    assert client.get("/docs").status_code == 200

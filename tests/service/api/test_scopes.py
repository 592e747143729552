"""Every route of the OpenAPI schema, walked: without a key 401; with a read key, 403 on
every route that changes something or is for admins, and never 401/403 on one that reads;
with a write key, 403 on the admin routes only. The walk counts the routes it checked, so a
route cannot slip out of it."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.service.api.conftest import make_key

# /metrics is open unless MEDSAFE_METRICS_KEY_REQUIRED (tests/service/api/test_metrics.py).
OPEN = {"/healthz", "/readyz", "/metrics"}
CHANGES = {"post", "put", "patch", "delete"}
ADMIN = {("get", "/v1/audit")}


def _routes(client: TestClient) -> list[tuple[str, str]]:
    spec = client.get("/openapi.json").json()
    return [(method, path) for path, methods in spec["paths"].items()
            for method in methods if path not in OPEN]


def _url(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def test_the_walk_covers_every_route(client: TestClient) -> None:
    routes = _routes(client)
    api_routes = {(m.lower(), r.path.replace(":path}", "}"))
                  for r in client.app.routes  # type: ignore[attr-defined]
                  if getattr(r, "path", "").startswith("/v1") for m in getattr(r, "methods", ())
                  if m not in ("HEAD", "OPTIONS")}
    assert set(routes) == api_routes
    assert len(routes) >= 30


@pytest.mark.parametrize("who", ["nobody", "reader"])
def test_every_route_needs_a_key_and_changes_need_the_write_scope(
        api_settings: str, client: TestClient, who: str) -> None:
    headers = {} if who == "nobody" else make_key(api_settings, "read")
    checked = 0
    for method, path in _routes(client):
        answer = client.request(method.upper(), _url(path), headers=headers,
                                json={} if method in CHANGES else None)
        if who == "nobody":
            assert answer.status_code == 401, (method, path, answer.text)
        elif method in CHANGES or (method, path) in ADMIN:
            assert answer.status_code == 403, (method, path, answer.text)
        else:
            assert answer.status_code not in (401, 403), (method, path, answer.text)
        checked += 1
    assert checked == len(_routes(client))


def test_admin_routes_refuse_a_write_key(api_settings: str, client: TestClient) -> None:
    writer = make_key(api_settings, "write")
    admin = make_key(api_settings, "admin")
    for method, path in sorted(ADMIN):
        assert client.request(method.upper(), path, headers=writer).status_code == 403
        assert client.request(method.upper(), path, headers=admin).status_code == 200

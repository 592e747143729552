"""`medsafe keys`: a key is printed once, listed by prefix, and revoked by id or prefix."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cli.keys import keys_app


def test_create_list_and_revoke_a_key(client: TestClient, api_settings: str) -> None:
    runner = CliRunner()
    created = runner.invoke(keys_app, ["create", "--name", "ci", "--scopes", "read,write"])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("msk_")
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/v1/evals", headers=headers).status_code == 200

    listed = runner.invoke(keys_app, ["list", "--json"])
    [info] = json.loads(listed.stdout)
    assert info["name"] == "ci" and info["scopes"] == ["read", "write"]
    assert key.startswith(info["prefix"]) and key not in listed.stdout

    revoked = runner.invoke(keys_app, ["revoke", info["prefix"]])
    assert revoked.exit_code == 0, revoked.output
    assert client.get("/v1/evals", headers=headers).status_code == 401
    assert json.loads(runner.invoke(keys_app, ["list", "--json"]).stdout)[0]["revoked_at"]


def test_unknown_scopes_fail_without_a_key(api_settings: str) -> None:
    result = CliRunner().invoke(keys_app, ["create", "--name", "ci", "--scopes", "root"])
    assert result.exit_code != 0
    assert "msk_" not in result.stdout

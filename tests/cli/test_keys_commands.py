"""`medsafe keys`: a key is printed once, listed by prefix, and revoked by id or prefix."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cli.keys import keys_app
from service import auth
from service.db import session_scope
from service.errors import InvalidInput
from service.models import ApiKey


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


def test_revoke_takes_the_start_of_a_prefix_as_the_readme_shows_it(
        api_settings: str) -> None:
    runner = CliRunner()
    key = runner.invoke(keys_app, ["create", "--name", "ci"]).stdout.strip().splitlines()[-1]
    short = key[:len("msk_0123abcd")]  # the README's example shape: 8 hex characters
    revoked = runner.invoke(keys_app, ["revoke", short])
    assert revoked.exit_code == 0, revoked.output
    assert "is revoked" in revoked.output
    assert json.loads(runner.invoke(keys_app, ["list", "--json"]).stdout)[0]["revoked_at"]


def test_revoke_refuses_a_start_that_fits_two_keys(api_settings: str) -> None:
    with session_scope(api_settings) as session:
        for prefix in ("abcdef000001", "abcdef000002"):
            session.add(ApiKey(name=prefix, prefix=prefix, hashed_secret="x", scopes=["read"]))
    with pytest.raises(InvalidInput, match="more than one key"), \
            session_scope(api_settings) as session:
        auth.revoke_key(session, "msk_abcdef")
    with pytest.raises(InvalidInput, match="at least 6"), session_scope(api_settings) as session:
        auth.revoke_key(session, "msk_abc")
    with session_scope(api_settings) as session:
        assert auth.revoke_key(session, "msk_abcdef000002").name == "abcdef000002"

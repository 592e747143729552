"""Drill: PostgreSQL stops answering in the middle of a shard (a proxy in front of it drops
every connection and refuses new ones for MEDSAFE_DRILL_OUTAGE_S, 3 s here, 30 s in `make
drills`). The worker waits for the database with backoff and jitter instead of burning the
shard's attempts, saves what the engine answered, and the eval succeeds: verify passes and
every shard ran once. Meanwhile the API answers 503."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.db import session_scope
from service.evals import lifecycle
from tests.conftest import POSTGRES_URL
from tests.faults import drills
from tests.faults.tcp_proxy import TcpProxy, proxied_postgres
from tests.service.api.conftest import make_key
from tests.settings_support import medsafe_settings

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="needs the real PostgreSQL")
N_ITEMS, SHARD_SIZE = 12, 3


@pytest.fixture
def proxied(db_url: str) -> Iterator[tuple[TcpProxy, str]]:
    with proxied_postgres(db_url) as pair:
        yield pair


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgres_down_mid_shard(db_url: str, conn: redis.Redis, prefix: str,
                                 proxied: tuple[TcpProxy, str], tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    proxy, through = proxied
    eval_id = drills.submit(db_url, conn, prefix, N_ITEMS, SHARD_SIZE)
    seen: dict[str, Any] = {}
    with medsafe_settings(monkeypatch, through, tmp_path / "data"), \
            TestClient(create_app(), raise_server_exceptions=False) as api:
        reader = make_key(db_url, "read")
        engines = drills.Engines(answer_s=0.02)
        engines.on_answer.append(_outage_once(proxy, api, reader, eval_id, seen))
        took = drills.drain(through, conn, prefix, engines)
    with session_scope(db_url) as session:
        evaluation = lifecycle.get_eval(session, eval_id)
        assert evaluation.status == "succeeded", evaluation.error
    report = drills.verified(db_url, eval_id)
    assert report.n_items == report.n_responses == N_ITEMS
    assert set(drills.shard_attempts(db_url, eval_id).values()) == {1}  # none burned
    assert seen["api"] == (503, "5")
    assert took >= drills.OUTAGE_S
    print(f"\ndrill postgres-down: {drills.OUTAGE_S:.0f} s outage mid-shard, eval done in "
          f"{took:.1f} s, API during the outage: {seen['api']}, verify: consistent")


def _outage_once(proxy: TcpProxy, api: TestClient, key: dict[str, str], eval_id: str,
                 seen: dict[str, Any]) -> Any:
    """A hook for the target engine: on the fifth answer (the second shard, its engine
    call under way) the database goes down for OUTAGE_S; the API is asked meanwhile."""
    answers = iter(range(1_000_000))

    def hook(_conversation: object) -> None:
        if next(answers) != 4:
            return
        proxy.cut()
        response = api.get(f"/v1/evals/{eval_id}", headers=key)
        seen["api"] = (response.status_code, response.headers.get("retry-after"))
        threading.Timer(drills.OUTAGE_S, proxy.restore).start()
        time.sleep(0.1)

    return hook

"""Drill: a worker is SIGKILLed in the middle of a shard (no last word: its job stays
`started` in Redis, the shard `running` in the database). A worker started under the same
name finds the shard stranded, runs it again and finishes the eval; every write is an
upsert, so verify passes with one response and one grade per item. (The same drill with
the real bundled model on vLLM: tests/workers/test_worker_vllm.py.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

import pytest
import redis
from sqlalchemy import select

from service.db import session_scope
from service.evals import lifecycle
from service.models import Shard
from tests.faults import drills
from tests.faults.tcp_proxy import wait_until

REPO = Path(__file__).resolve().parents[2]
N_ITEMS, SHARD_SIZE = 12, 3


def _start(db_url: str, redis_url: str, prefix: str, log: Path,
           burst: bool) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "tests.faults.fake_worker", db_url, redis_url, prefix,
               f"{prefix}-worker", *(["--burst"] if burst else [])]
    with log.open("ab") as out:
        return subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _kill(worker: subprocess.Popen[bytes]) -> None:
    """SIGKILL the worker and what it forked (RQ's scheduler): its whole process group."""
    with suppress(ProcessLookupError):
        os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()


def _running(db_url: str, eval_id: str) -> list[tuple[str, int]]:
    with session_scope(db_url) as session:
        return [(row.stage, row.index) for row in session.execute(
            select(Shard.stage, Shard.index).where(Shard.eval_id == eval_id,
                                                   Shard.status == "running"))]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_worker_sigkilled_mid_shard(db_url: str, conn: redis.Redis, redis_url: str,
                                    prefix: str, tmp_path: Path) -> None:
    eval_id = drills.submit(db_url, conn, prefix, N_ITEMS, SHARD_SIZE)
    log = tmp_path / "worker.log"
    first = _start(db_url, redis_url, prefix, log, burst=False)
    try:
        assert wait_until(lambda: _running(db_url, eval_id), 120), log.read_text()[-4000:]
        time.sleep(0.3)  # into the engine call
    finally:
        _kill(first)
    stranded = _running(db_url, eval_id)
    assert stranded, "the kill landed between two shards"
    started = time.monotonic()
    second = _start(db_url, redis_url, prefix, log, burst=True)
    try:
        second.wait(timeout=120)
    finally:
        _kill(second)
    took = time.monotonic() - started
    with session_scope(db_url) as session:
        evaluation = lifecycle.get_eval(session, eval_id)
        assert evaluation.status == "succeeded", (evaluation.error, log.read_text()[-4000:])
    report = drills.verified(db_url, eval_id)
    assert report.n_items == report.n_responses == N_ITEMS
    attempts = drills.shard_attempts(db_url, eval_id)
    stage, index = stranded[0]
    assert attempts.pop(f"{stage}-{index}") == 2 and set(attempts.values()) == {1}
    print(f"\ndrill worker-killed: SIGKILL in {stage} shard {index}; the restarted worker "
          f"finished the eval in {took:.1f} s, that shard ran twice, verify: consistent")

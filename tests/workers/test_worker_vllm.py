"""A worker with the real bundled model, killed with SIGKILL in the middle of a shard: a
restarted worker finishes the eval with exactly one response and one judgment per item, and
`medsafe verify` finds the rows and the summary consistent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import psutil
import pytest
import redis
from sqlalchemy import select

from service.benchmarks.items import ItemKind, ItemRecord
from service.db import session_scope
from service.evals import lifecycle
from service.evals.verify import verify_eval
from service.models import Judgment, Response, Shard
from tests import queue_support
from tests.conftest import POSTGRES_URL

pytestmark = pytest.mark.vllm

MODEL = "bundled:smollm2"
REPO = Path(__file__).resolve().parents[2]
N_ITEMS = 4


@pytest.fixture
def conn(tmp_path: Path, db_url: str) -> Iterator[tuple[redis.Redis, str, str]]:
    url = queue_support.redis_url(tmp_path)
    prefix = queue_support.unique_prefix()
    connection = redis.Redis.from_url(url)
    yield connection, url, prefix
    queue_support.delete_keys(connection, prefix, db_url)
    connection.close()


def _start_worker(db_url: str, redis_url: str, prefix: str, name: str, log: Path,
                  burst: bool) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MEDSAFE_DATABASE_URL": db_url, "MEDSAFE_REDIS_URL": redis_url}
    command = [sys.executable, "-m", "cli.app", "worker", "--models", MODEL, "--judge", MODEL,
               "--name", name, "--queue-prefix", prefix, *(["--burst"] if burst else [])]
    with log.open("ab") as out:
        return subprocess.Popen(command, cwd=REPO, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _kill_tree(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the worker and the engine processes it spawned, leaving them no last word."""
    try:
        family = [process.pid, *(p.pid for p in psutil.Process(process.pid).children(True))]
    except psutil.NoSuchProcess:
        family = [process.pid]
    for pid in family:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    process.wait()


def _running_shards(db_url: str) -> list[tuple[str, int]]:
    with session_scope(db_url) as session:
        return [(row.stage, row.index) for row in session.execute(
            select(Shard.stage, Shard.index).where(Shard.status == "running"))]


def _wait_for_a_running_shard(db_url: str, worker: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 400
    while not _running_shards(db_url):
        if worker.poll() is not None:
            pytest.fail(f"the worker exited with {worker.returncode}:\n{log.read_text()[-4000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"no shard started:\n{log.read_text()[-4000:]}")
        time.sleep(0.05)


def _submit(db_url: str, connection: redis.Redis, prefix: str) -> str:
    items = [ItemRecord(f"How do I treat a mild burn on my hand? ({i})",
                        ItemKind.BENIGN_MEDICAL if i % 2 else ItemKind.HARMFUL_MEDICAL, "test",
                        principle=None if i % 2 else 1 + i) for i in range(N_ITEMS)]
    return queue_support.submit(db_url, connection, prefix, items, MODEL, MODEL, shard_size=2)


@pytest.mark.parametrize("db_url", ["postgresql" if POSTGRES_URL else "sqlite"], indirect=True)
def test_killed_worker_restarted_finishes_the_eval(
        db_url: str, conn: tuple[redis.Redis, str, str], tmp_path: Path) -> None:
    connection, redis_url, prefix = conn
    eval_id = _submit(db_url, connection, prefix)
    log = tmp_path / "worker.log"
    name = f"{prefix}-gpu0"
    first = _start_worker(db_url, redis_url, prefix, name, log, burst=False)
    try:
        _wait_for_a_running_shard(db_url, first, log)
    finally:
        _kill_tree(first)
    stranded = _running_shards(db_url)
    assert stranded, "the kill landed between two shards"

    # the same name again: the dead worker's registration must not stand in the way
    second = _start_worker(db_url, redis_url, prefix, name, log, burst=True)
    try:
        second.wait(timeout=300)
    except subprocess.TimeoutExpired:
        os.kill(second.pid, signal.SIGUSR1)
        time.sleep(3)
        pytest.fail(log.read_text()[-12000:])
    finally:
        _kill_tree(second)

    with session_scope(db_url) as session:
        evaluation = lifecycle.get_eval(session, eval_id)
        assert evaluation.status == "succeeded", (evaluation.error, log.read_text()[-4000:])
        responses = list(session.scalars(select(Response.item_id)
                                         .where(Response.eval_id == eval_id)))
        judgments = list(session.scalars(select(Judgment.item_id).where(
            Judgment.eval_id == eval_id, Judgment.judge == MODEL)))
        stage, index = stranded[0]
        attempts = session.scalar(select(Shard.attempts).where(
            Shard.eval_id == eval_id, Shard.stage == stage, Shard.index == index))
    assert len(responses) == len(set(responses)) == N_ITEMS
    assert sorted(judgments) == sorted(responses)
    assert attempts == 2
    with session_scope(db_url) as session:
        report = verify_eval(session, eval_id)
    assert report.consistent, [problem.detail for problem in report.problems]

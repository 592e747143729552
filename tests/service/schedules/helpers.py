"""Schedules and finished scheduled evals written straight to the database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select

from service.config import get_settings
from service.db import session_scope, upsert
from service.evals import lifecycle
from service.models import Judgment, Response, Schedule, Shard
from service.pipeline.judging.refusal import REFUSAL_JUDGE
from service.schedules import store
from service.schedules.firing import fire
from service.schedules.schemas import ScheduleCreate

TEMPLATE: dict[str, Any] = {"model": "openai:target", "judge": "openai:judge",
                            "datasets": ["msb"], "shard_size": 100}


def make_schedule(db_url: str, created_at: datetime | None = None, **fields: Any) -> str:
    body = ScheduleCreate.model_validate({"name": "nightly", "cron": "* * * * *",
                                          "template": TEMPLATE, **fields})
    with session_scope(db_url) as session:
        schedule = store.create_schedule(session, body, get_settings())
        if created_at is not None:
            schedule.created_at = schedule.active_since = created_at
        return schedule.id


def finished_scheduled_eval(db_url: str, schedule_id: str, fire_time: datetime,
                            score: Callable[[int], int], *, fail: str | None = None,
                            judge: str | None = None) -> str:
    """Fire the schedule at fire_time, then answer and grade every item (score(n) for the
    n-th) and complete it (or fail it with `fail`), as the workers would."""
    with session_scope(db_url) as session:
        schedule = session.get(Schedule, schedule_id)
        assert schedule is not None
        evaluation = fire(session, schedule, fire_time, get_settings())
        assert evaluation is not None
        eval_id = evaluation.id
        if judge is not None:
            evaluation.judge = judge
    with session_scope(db_url) as session:
        items = [i for s in session.scalars(select(Shard).where(
            Shard.eval_id == eval_id, Shard.stage == "generate")) for i in s.item_ids]
        judge_name = lifecycle.get_eval(session, eval_id).judge
        upsert(session, Response, [{"eval_id": eval_id, "item_id": i, "text": f"answer {i}",
                                    "finish_reason": "stop"} for i in items],
               keys=["eval_id", "item_id"])
        upsert(session, Judgment, [{"eval_id": eval_id, "item_id": i, "judge": judge_name,
                                    "status": "scored", "score": score(n)}
                                   for n, i in enumerate(items)],
               keys=["eval_id", "item_id", "judge"])
        upsert(session, Judgment, [{"eval_id": eval_id, "item_id": i, "judge": REFUSAL_JUDGE,
                                    "status": "scored", "refused": False,
                                    "refusal": "full_compliance"} for i in items],
               keys=["eval_id", "item_id", "judge"])
        for shard in session.scalars(select(Shard).where(Shard.eval_id == eval_id)):
            shard.status = "succeeded"
        if fail:
            lifecycle.fail_eval(session, eval_id, fail)
        else:
            lifecycle.complete_eval(session, lifecycle.get_eval(session, eval_id))
    return eval_id

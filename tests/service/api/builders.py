"""Finished evals written straight to the database, for tests of the read endpoints."""

from __future__ import annotations

from sqlalchemy import select

from service.db import session_scope, upsert
from service.evals import lifecycle
from service.evals import service as evals
from service.models import Judgment, Response, Shard
from service.pipeline.engine import SamplingSettings
from service.pipeline.judging.refusal import REFUSAL_JUDGE

JUDGE = "openai:judge"


def finished_eval(db_url: str, dataset: str = "msb", *, model: str = "openai:target",
                  labels: dict[str, str] | None = None, score_offset: int = 0,
                  unscored_every: int = 0, grading: str = "reasoned") -> str:
    """An eval of every item of `dataset`, answered, judged (scores cycling 1..5, shifted
    by score_offset) and summarised; every unscored_every-th item unscored."""
    request = evals.EvalRequest(model=model, datasets=[dataset], judge=JUDGE,
                                sampling=SamplingSettings(seed=1), labels=labels or {},
                                grading=grading)
    with session_scope(db_url) as session:
        eval_id = evals.submit_eval(session, request, enqueue=False).evaluation.id
        item_ids = [i for s in session.scalars(select(Shard).where(
            Shard.eval_id == eval_id, Shard.stage == "generate")) for i in s.item_ids]
        upsert(session, Response, [{"eval_id": eval_id, "item_id": i, "text": f"answer {i}",
                                    "finish_reason": "stop"} for i in item_ids],
               keys=["eval_id", "item_id"])
        upsert(session, Judgment, [_grade(eval_id, i, n, score_offset, unscored_every)
                                   for n, i in enumerate(item_ids)],
               keys=["eval_id", "item_id", "judge"])
        upsert(session, Judgment, [{"eval_id": eval_id, "item_id": i, "judge": REFUSAL_JUDGE,
                                    "status": "scored", "refused": n % 3 == 0,
                                    "refusal": "full_refusal" if n % 3 == 0
                                    else "full_compliance"}
                                   for n, i in enumerate(item_ids)],
               keys=["eval_id", "item_id", "judge"])
        for shard in session.scalars(select(Shard).where(Shard.eval_id == eval_id)):
            shard.status = "succeeded"
        lifecycle.complete_eval(session, lifecycle.get_eval(session, eval_id))
    return eval_id


def _grade(eval_id: str, item_id: int, n: int, offset: int, unscored_every: int) -> dict[
        str, object]:
    if unscored_every and n % unscored_every == unscored_every - 1:
        return {"eval_id": eval_id, "item_id": item_id, "judge": JUDGE, "status": "unscored",
                "score": None, "reason": "unparseable", "raw": "???"}
    score = min(5, (n + offset) % 5 + 1)
    return {"eval_id": eval_id, "item_id": item_id, "judge": JUDGE, "status": "scored",
            "score": score, "reason": f"score {score}", "raw": f'{{"score": {score}}}'}

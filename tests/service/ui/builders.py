"""Evals with answers and grades written straight to the database (no model), graded by a
function of the item's place and principle, finished or still running."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from service.db import session_scope, upsert
from service.evals import lifecycle
from service.evals import service as evals
from service.models import Eval, Item, Judgment, Response, Shard
from service.pipeline.engine import SamplingSettings
from service.pipeline.judging.refusal import REFUSAL_JUDGE

JUDGE = "openai:judge"
DEMO = "builtin:medsafety-demo"


def _item_ids(session: object, eval_id: str) -> list[int]:
    return [i for s in session.scalars(select(Shard).where(  # type: ignore[attr-defined]
        Shard.eval_id == eval_id, Shard.stage == "generate").order_by(Shard.index))
        for i in s.item_ids]


def graded_eval(db_url: str, model: str, labels: dict[str, str],
                score: Callable[[int, int | None], int], *, dataset: str = DEMO,
                answered: int | None = None, judged: int | None = None) -> str:
    """An eval of every item of `dataset`, the n-th item graded score(n, principle). With
    `answered` the eval is left running with that many answers and `judged` grades."""
    request = evals.EvalRequest(model=model, datasets=[dataset], judge=JUDGE,
                                sampling=SamplingSettings(seed=1), labels=labels)
    with session_scope(db_url) as session:
        eval_id = evals.submit_eval(session, request, enqueue=False).evaluation.id
        ids = _item_ids(session, eval_id)
        answer(session, eval_id, ids[:answered], score, judged)
        if answered is None:
            for shard in session.scalars(select(Shard).where(Shard.eval_id == eval_id)):
                shard.status = "succeeded"
            lifecycle.complete_eval(session, lifecycle.get_eval(session, eval_id))
        else:
            lifecycle.claim_shard(session, eval_id, lifecycle.Stage.GENERATE, 0, "test")
    return eval_id


def answer(session: object, eval_id: str, ids: list[int],
           score: Callable[[int, int | None], int], judged: int | None = None) -> None:
    principles = dict(session.execute(  # type: ignore[attr-defined]
        select(Item.id, Item.principle).where(Item.id.in_(ids))).all())
    upsert(session, Response, [{"eval_id": eval_id, "item_id": i,  # type: ignore[arg-type]
                                "text": f"(stored answer to item {i})", "finish_reason": "stop"}
                               for i in ids], keys=["eval_id", "item_id"])
    graded = ids[:judged]
    upsert(session, Judgment, [{"eval_id": eval_id, "item_id": i,  # type: ignore[arg-type]
                                "judge": JUDGE, "status": "scored",
                                "score": score(n, principles[i]),
                                "reason": f"graded {score(n, principles[i])}"}
                               for n, i in enumerate(graded)], keys=["eval_id", "item_id", "judge"])
    upsert(session, Judgment, [{"eval_id": eval_id, "item_id": i,  # type: ignore[arg-type]
                                "judge": REFUSAL_JUDGE, "status": "scored",
                                "refused": score(n, principles[i]) <= 2,
                                "refusal": "full_refusal" if score(n, principles[i]) <= 2
                                else "full_compliance"}
                               for n, i in enumerate(graded)], keys=["eval_id", "item_id", "judge"])


def answer_more(db_url: str, eval_id: str, answered: int) -> None:
    """A running eval gets answers up to `answered` items (as a worker would)."""
    with session_scope(db_url) as session:
        assert session.get(Eval, eval_id) is not None
        ids = _item_ids(session, eval_id)[:answered]
        upsert(session, Response, [{"eval_id": eval_id, "item_id": i,
                                    "text": f"(stored answer to item {i})",
                                    "finish_reason": "stop"} for i in ids],
               keys=["eval_id", "item_id"])

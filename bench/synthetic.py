"""Data for the benchmark: a finished eval of any size written straight to the database (for
API memory checks), and a dataset grown to any size from a real one (for scaling runs)."""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy import select

from service.benchmarks.items import ItemKind, ItemRecord
from service.benchmarks.store import CHUNK_ROWS, resolve_dataset, save_dataset
from service.db import session_scope, upsert
from service.evals import lifecycle
from service.evals import service as evals
from service.evals.lifecycle import Stage
from service.models import Item, Judgment, Response, Shard
from service.pipeline.judging.refusal import REFUSAL_JUDGE

JUDGE = "bundled:smollm2"
ANSWER = "I can't help with that request, but here is what the principles allow. " * 8


def finished_eval(n_items: int) -> str:
    """Dataset, eval, responses and judgments for n_items; the eval ends `succeeded`."""
    name = f"synthetic-{n_items}"
    items = [
        ItemRecord(
            f"synthetic harmful request number {i}: " + "x" * 200,
            ItemKind.HARMFUL_MEDICAL,
            "synthetic",
            principle=1 + i % 9,
        )
        for i in range(n_items)
    ]
    with session_scope() as session:
        save_dataset(session, name, items, origin="bench")
    request = evals.EvalRequest(
        model="bundled:smollm2", datasets=[name], judge=JUDGE, shard_size=n_items
    )
    with session_scope() as session:
        eval_id = evals.submit_eval(session, request, enqueue=False).evaluation.id
        item_ids = [
            i
            for ids in session.scalars(
                select(Shard.item_ids).where(
                    Shard.eval_id == eval_id, Shard.stage == Stage.GENERATE)
            )
            for i in ids
        ]
        responses = [
            {"eval_id": eval_id, "item_id": i, "text": ANSWER, "output_tokens": 100}
            for i in item_ids
        ]
        grades: list[dict[str, Any]] = [
            {
                "eval_id": eval_id,
                "item_id": i,
                "judge": JUDGE,
                "status": "scored",
                "score": 1 + i % 5,
                "refused": None,
                "reason": "synthetic",
                "raw": "{}",
            }
            for i in item_ids
        ]
        grades += [
            {
                "eval_id": eval_id,
                "item_id": i,
                "judge": REFUSAL_JUDGE,
                "status": "scored",
                "score": None,
                "refused": True,
                "reason": None,
                "raw": None,
            }
            for i in item_ids
        ]
        for start in range(0, len(responses), CHUNK_ROWS):
            upsert(session, Response, responses[start:start + CHUNK_ROWS],
                   keys=["eval_id", "item_id"])
        for start in range(0, len(grades), CHUNK_ROWS):
            upsert(session, Judgment, grades[start:start + CHUNK_ROWS],
                   keys=["eval_id", "item_id", "judge"])
        lifecycle.complete_eval(session, lifecycle.get_eval(session, eval_id))
    return eval_id


def grown_dataset(source: str, n_items: int) -> tuple[str, int]:
    """The name and size of a dataset of at least n_items: `source` itself where it is large
    enough, else `source`'s items repeated as "Case k: <request>" (kind and principle kept,
    every prompt distinct), so scaling runs see real requests at any size."""
    with session_scope() as session:
        dataset = resolve_dataset(session, source)
        rows = session.execute(
            select(Item.prompt, Item.kind, Item.principle, Item.source)
            .where(Item.dataset_id == dataset.id).order_by(Item.id)
        ).all()
    if len(rows) >= n_items:
        return source, len(rows)
    name = f"grown-{n_items}"
    items = [
        ItemRecord(f"Case {k + 1}: {row.prompt}", ItemKind(row.kind), row.source,
                   principle=row.principle)
        for k, row in enumerate(itertools.islice(itertools.cycle(rows), n_items))
    ]
    with session_scope() as session:
        save_dataset(session, name, items, origin="bench",
                     description=f"{source} grown to {n_items} items for a scaling run")
    return name, n_items

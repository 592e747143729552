"""A model's safety over time and the leaderboard of models, each only among comparable evals:
the same items, judge, rubric version, grading mode, sampling and system prompt."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.benchmarks.store import find_dataset
from service.evals.grades import evaluation_grading
from service.evals.purpose import EvalPurpose
from service.evals.schemas import HistoryPoint, Leaderboard, LeaderboardRow, ModelHistory
from service.evals.states import EvalStatus, Stage
from service.models import Eval, Shard
from service.pipeline.summaries import EvalSummary


def _item_hashes(session: Session, eval_ids: list[str]) -> dict[str, str]:
    """Per eval, a hash of the item ids it answered: one query for all of them."""
    items: dict[str, list[int]] = {eval_id: [] for eval_id in eval_ids}
    for eval_id, ids in session.execute(select(Shard.eval_id, Shard.item_ids).where(
            Shard.eval_id.in_(eval_ids), Shard.stage == Stage.GENERATE)):
        items[eval_id].extend(ids)
    return {eval_id: hashlib.sha256(json.dumps(sorted(ids)).encode()).hexdigest()[:16]
            for eval_id, ids in items.items()}


def _settings_key(evaluation: Eval) -> dict[str, Any]:
    sampling = dict(evaluation.settings.get("sampling", {}))
    return {
        "judge": evaluation.judge,
        "rubric_version": evaluation.settings.get("rubric_version"),
        "grading": str(evaluation_grading(evaluation)),
        "sampling": {k: sampling.get(k) for k in ("max_tokens", "temperature", "top_p", "seed")},
        "system_prompt": evaluation.settings.get("system_prompt"),
    }


def comparability(session: Session, evaluation: Eval) -> dict[str, Any]:
    """What must match for two evals' numbers to sit on one scale (docs/DATA.md)."""
    return _keys(session, [evaluation])[evaluation.id]


def _keys(session: Session, evals: list[Eval]) -> dict[str, dict[str, Any]]:
    """comparability() of many evals, with one query for their items."""
    hashes = _item_hashes(session, [e.id for e in evals])
    return {e.id: {"items_sha256": hashes[e.id], **_settings_key(e)} for e in evals}


def _differences(reference: dict[str, Any], other: dict[str, Any]) -> str:
    names = {"items_sha256": "items"}
    return ", ".join(names.get(key, key) for key in reference if reference[key] != other[key])


def _succeeded_on(session: Session, dataset: str, model: str | None = None) -> list[Eval]:
    """Succeeded benchmark evals that ran on `dataset` (its name or id, however the eval
    named it), newest first."""
    found = find_dataset(session, dataset)
    query = select(Eval).where(Eval.purpose == EvalPurpose.BENCHMARK,
                               Eval.status == EvalStatus.SUCCEEDED, Eval.summary.is_not(None))
    if model is not None:
        query = query.where(Eval.model == model)
    evals = session.scalars(query.order_by(Eval.finished_at.desc(), Eval.id.desc()))
    return [e for e in evals if (found is not None and found.id in e.dataset_ids)
            or dataset in e.settings.get("datasets", [])]


def _point(evaluation: Eval) -> HistoryPoint:
    summary = EvalSummary.model_validate(evaluation.summary)
    return HistoryPoint(
        eval_id=evaluation.id, model=evaluation.model, created_at=evaluation.created_at,
        fire_time=evaluation.fire_time, n_items=summary.n_items,
        mean_harmfulness=summary.mean_harmfulness, ci_low=summary.ci_low,
        ci_high=summary.ci_high, harmful_rate=summary.harmful_rate,
        refusal_rate=summary.refusal_rate, over_refusal_rate=summary.over_refusal_rate,
        by_principle={key: stats.mean for key, stats in summary.by_principle.items()},
        regressed=evaluation.regressed)


def model_history(session: Session, model: str, dataset: str) -> ModelHistory:
    """The model's succeeded evals on the dataset that are comparable with its newest one,
    oldest first; the others are counted, with what differs."""
    evals = _succeeded_on(session, dataset, model)
    if not evals:
        return ModelHistory(model=model, dataset=dataset, comparable_on=None, points=[],
                            excluded=[])
    keys = _keys(session, evals)
    reference = keys[evals[0].id]
    points, excluded = [], []
    for evaluation in evals:
        key = keys[evaluation.id]
        if key == reference:
            points.append(_point(evaluation))
        else:
            excluded.append({"eval_id": evaluation.id,
                             "differs_in": _differences(reference, key)})
    return ModelHistory(model=model, dataset=dataset, comparable_on=reference,
                        points=points[::-1], excluded=excluded)


def leaderboard(session: Session, dataset: str) -> Leaderboard:
    """Per model its latest succeeded eval comparable with the newest eval on the dataset,
    ranked by mean harmfulness (lowest, the safest, first); models with no comparable eval
    are listed apart with what differs."""
    evals = _succeeded_on(session, dataset)
    if not evals:
        return Leaderboard(dataset=dataset, comparable_on=None, rows=[], excluded=[])
    keys = _keys(session, evals)
    reference = keys[evals[0].id]
    chosen: dict[str, Eval] = {}
    differs: dict[str, str] = {}
    for evaluation in evals:  # newest first: the first comparable one per model wins
        if evaluation.model in chosen:
            continue
        key = keys[evaluation.id]
        if key == reference:
            chosen[evaluation.model] = evaluation
            differs.pop(evaluation.model, None)
        else:
            differs.setdefault(evaluation.model, _differences(reference, key))
    points = sorted((_point(e) for e in chosen.values()),
                    key=lambda p: (p.mean_harmfulness is None, p.mean_harmfulness or 0.0,
                                   p.model))
    rows = [LeaderboardRow(rank=rank, **point.model_dump())
            for rank, point in enumerate(points, start=1)]
    return Leaderboard(dataset=dataset, comparable_on=reference, rows=rows,
                       excluded=[{"model": m, "differs_in": d} for m, d in differs.items()])

"""Creating, sharding, tracking and summarising evals (shared by the CLI, the API and workers)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service import metrics
from service.benchmarks.store import get_dataset
from service.config import Settings
from service.errors import InvalidInput, NotFound
from service.judging.refusal import REFUSAL_JUDGE
from service.judging.rubric import DEFAULT_GRADING, RUBRIC_VERSION, GradingMode, check_grading
from service.models import Eval, Item, Judgment, Response, Shard
from service.records import GradedItem, ItemKind, SamplingSettings

STAGES = ("generate", "judge")
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})


@dataclass(frozen=True)
class EvalRequest:
    """Everything needed to start an eval; validated before anything is written."""

    model: str
    datasets: list[str]
    judge: str
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    system_prompt: str | None = None
    limit: int | None = None
    shard_size: int = 64
    labels: dict[str, str] = field(default_factory=dict)
    idempotency_key: str | None = None
    grading: str = DEFAULT_GRADING  # "reasoned" or "score" (service.judging.rubric)


def request_with_defaults(
    settings: Settings,
    *,
    model: str | None,
    datasets: list[str],
    judge: str | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    system_prompt: str | None = None,
    limit: int | None = None,
    shard_size: int | None = None,
    grading: str | None = None,
    labels: dict[str, str] | None = None,
    idempotency_key: str | None = None,
) -> EvalRequest:
    """An EvalRequest with the configured default for every field left out, filled the same
    way for the REST API and `medsafe eval`."""
    return EvalRequest(
        model=model or settings.target_model,
        datasets=list(datasets),
        judge=judge or settings.judge_model,
        sampling=SamplingSettings(
            max_tokens=max_tokens or settings.max_tokens,
            temperature=settings.temperature if temperature is None else temperature,
            top_p=top_p or settings.top_p,
            seed=settings.seed if seed is None else seed,
        ),
        system_prompt=system_prompt or settings.system_prompt,
        limit=limit,
        shard_size=shard_size or settings.shard_size,
        labels=dict(labels or {}),
        idempotency_key=idempotency_key,
        grading=grading or settings.grading,
    )


def create_eval(session: Session, request: EvalRequest) -> Eval:
    """Write the eval and one shard per stage and slice of items, in the caller's transaction."""
    _validate(request)
    dataset_ids = [get_dataset(session, name).id for name in request.datasets]
    item_ids = select_items(session, dataset_ids, request.limit, request.sampling.seed or 0)
    if not item_ids:
        raise InvalidInput(f"datasets {request.datasets} hold no items")
    evaluation = Eval(
        model=request.model, judge=request.judge, dataset_ids=dataset_ids,
        settings=_recorded_settings(request), labels=dict(request.labels),
        n_items=len(item_ids), idempotency_key=request.idempotency_key,
    )
    session.add(evaluation)
    session.flush()
    for index, start in enumerate(range(0, len(item_ids), request.shard_size)):
        chunk = item_ids[start:start + request.shard_size]
        for stage in STAGES:
            session.add(Shard(eval_id=evaluation.id, stage=stage, index=index, item_ids=chunk))
    return evaluation


def _validate(request: EvalRequest) -> None:
    if not request.datasets:
        raise InvalidInput("name at least one dataset")
    if request.limit is not None and request.limit < 1:
        raise InvalidInput("limit must be at least 1")
    if request.shard_size < 1:
        raise InvalidInput("shard_size must be at least 1")
    try:
        check_grading(request.grading)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    s = request.sampling
    if s.max_tokens < 1:
        raise InvalidInput("max_tokens must be at least 1")
    if not 0.0 <= s.temperature <= 2.0:
        raise InvalidInput("temperature must be within 0..2")
    if not 0.0 < s.top_p <= 1.0:
        raise InvalidInput("top_p must be within (0, 1]")


def _recorded_settings(request: EvalRequest) -> dict[str, Any]:
    return {
        "model": request.model, "judge": request.judge, "system_prompt": request.system_prompt,
        "sampling": asdict(request.sampling), "limit": request.limit,
        "shard_size": request.shard_size, "rubric_version": RUBRIC_VERSION,
        "grading": request.grading,
        "datasets": list(request.datasets),
    }


def select_items(
    session: Session, dataset_ids: list[int], limit: int | None, seed: int
) -> list[int]:
    """The eval's items: all of them, or `limit` drawn round-robin across strata (each
    principle, general harm, benign) in a seeded order, so a small run covers all nine."""
    rows = session.execute(
        select(Item.id, Item.kind, Item.principle)
        .where(Item.dataset_id.in_(dataset_ids)).order_by(Item.id)
    ).all()
    if limit is None or limit >= len(rows):
        return [row.id for row in rows]
    # Principle strata come first in each round, so a limit of 9 already covers all nine.
    strata: dict[tuple[int, int, str], list[int]] = defaultdict(list)
    for row in rows:
        strata[(row.principle is None, row.principle or 0, row.kind)].append(row.id)
    rng = np.random.default_rng(seed)
    queues = [list(rng.permutation(ids)) for _, ids in sorted(strata.items())]
    chosen: list[int] = []
    while len(chosen) < limit:
        for queue in queues:
            if queue and len(chosen) < limit:
                chosen.append(int(queue.pop()))
    return sorted(chosen)


def get_eval(session: Session, eval_id: str) -> Eval:
    evaluation = session.get(Eval, eval_id)
    if evaluation is None:
        raise NotFound(f"no eval with id {eval_id!r}")
    return evaluation


def mark_running(session: Session, eval_id: str) -> Eval:
    evaluation = get_eval(session, eval_id)
    if evaluation.status == "queued":
        evaluation.status = "running"
        evaluation.started_at = datetime.now(UTC)
    return evaluation


def mark_failed(session: Session, eval_id: str, error: str) -> None:
    evaluation = get_eval(session, eval_id)
    if evaluation.status not in TERMINAL:
        evaluation.status = "failed"
        evaluation.error = error
        evaluation.finished_at = datetime.now(UTC)


def stage_progress(session: Session, eval_id: str) -> dict[str, dict[str, int]]:
    """Shards per stage and status, e.g. {"generate": {"succeeded": 3, "queued": 1}}."""
    rows = session.execute(
        select(Shard.stage, Shard.status, func.count())
        .where(Shard.eval_id == eval_id).group_by(Shard.stage, Shard.status)
    ).all()
    progress: dict[str, dict[str, int]] = {stage: {} for stage in STAGES}
    for stage, status, count in rows:
        progress[stage][status] = count
    return progress


def graded_items(session: Session, eval_id: str) -> list[GradedItem]:
    """One GradedItem per answered item of the eval, from the stored judgments."""
    evaluation = get_eval(session, eval_id)
    grades: dict[int, dict[str, Judgment]] = defaultdict(dict)
    for judgment in session.scalars(select(Judgment).where(Judgment.eval_id == eval_id)):
        grades[judgment.item_id][judgment.judge] = judgment
    items = session.execute(
        select(Item.id, Item.kind, Item.principle, Item.source)
        .join(Response, Response.item_id == Item.id)
        .where(Response.eval_id == eval_id).order_by(Item.id)
    ).all()
    graded = []
    for row in items:
        by_judge = grades.get(row.id, {})
        main = by_judge.get(evaluation.judge)
        refusal = by_judge.get(REFUSAL_JUDGE)
        extra = {name: j.score for name, j in by_judge.items()
                 if name not in (evaluation.judge, REFUSAL_JUDGE)}
        graded.append(GradedItem(
            item_id=row.id, kind=ItemKind(row.kind), principle=row.principle,
            source=row.source, score=main.score if main else None,
            refused=refusal.refused if refusal else None, extra=extra,
        ))
    return graded


def finish_eval(session: Session, eval_id: str) -> Eval:
    """Write the summary computed from stored rows and mark the eval succeeded."""
    evaluation = get_eval(session, eval_id)
    summary = metrics.summarise(graded_items(session, eval_id), seed=evaluation_seed(evaluation))
    evaluation.summary = summary
    evaluation.status = "succeeded"
    evaluation.finished_at = datetime.now(UTC)
    return evaluation


def evaluation_seed(evaluation: Eval) -> int:
    return int(evaluation.settings.get("sampling", {}).get("seed") or 0)


def evaluation_grading(evaluation: Eval) -> GradingMode:
    """How the eval's judge grades (evals recorded before grading modes were reasoned)."""
    return check_grading(str(evaluation.settings.get("grading", DEFAULT_GRADING)))


def cancel_eval(session: Session, eval_id: str) -> Eval:
    """Stop an eval: pending shards are cancelled and workers skip them; finished rows stay."""
    evaluation = get_eval(session, eval_id)
    if evaluation.status in TERMINAL:
        return evaluation
    evaluation.status = "cancelled"
    evaluation.finished_at = datetime.now(UTC)
    for shard in session.scalars(select(Shard).where(
            Shard.eval_id == eval_id, Shard.status.in_(("queued", "running")))):
        shard.status = "cancelled"
    return evaluation


def get_shard(session: Session, eval_id: str, stage: str, index: int) -> Shard:
    return session.scalars(select(Shard).where(
        Shard.eval_id == eval_id, Shard.stage == stage, Shard.index == index)).one()


def fail_shard(session: Session, eval_id: str, stage: str, index: int, error: str) -> None:
    """Record a shard's final failure and fail its eval, so nothing is left `running`."""
    shard = get_shard(session, eval_id, stage, index)
    shard.status = "failed"
    shard.error = error
    shard.finished_at = datetime.now(UTC)
    mark_failed(session, eval_id, f"{stage} shard {index}: {error}")

"""Submitting and cancelling evals: the one path the REST API, `medsafe eval` and any other
client take. Everything is checked before anything is written; the jobs are enqueued only
after the caller's transaction commits."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.audit import Actor, AuditAction, local_actor, record, stamp
from service.benchmarks.store import resolve_dataset
from service.config import DEFAULT_GRADING, GradingMode, Settings
from service.db import upsert
from service.errors import Conflict, InvalidInput, NotFound
from service.evals import lifecycle
from service.evals.lifecycle import EvalStatus, ShardStatus, Stage
from service.evals.purpose import EvalPurpose
from service.evals.schemas import EvalCreate
from service.finetunes.store import check_adapter_spec
from service.model_specs import validate_model_spec
from service.models import Eval, Item, Shard, new_id, utcnow
from service.pipeline.engine import SamplingSettings
from service.pipeline.judging.rubric import RUBRIC_VERSION, check_grading
from service.queue import jobs
from service.queue.connection import redis_connection
from service.queue.jobs import Priority


@dataclass(frozen=True)
class EvalRequest:
    """Everything needed to start an eval; validated before anything is written."""

    model: str
    datasets: list[str]
    judge: str
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    system_prompt: str | None = None
    limit: int | None = None
    draw_seed: int = 0  # which items `limit` draws; the sampling seed does not change them
    shard_size: int = 64
    labels: dict[str, str] = field(default_factory=dict)
    idempotency_key: str | None = None
    grading: GradingMode = DEFAULT_GRADING
    priority: Priority = Priority.DEFAULT
    # Who submits: recorded as the eval's creator; an API key's Idempotency-Keys are its own.
    creator: Actor | None = None

    @property
    def caller(self) -> int | None:
        """The API key that submits, if any."""
        return self.creator.key_id if self.creator else None


@dataclass(frozen=True)
class Submission:
    evaluation: Eval
    created: bool  # False: the Idempotency-Key named an eval submitted before


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
    draw_seed: int | None = None,
    shard_size: int | None = None,
    grading: GradingMode | None = None,
    labels: dict[str, str] | None = None,
    idempotency_key: str | None = None,
    priority: Priority = Priority.DEFAULT,
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
        draw_seed=draw_seed or 0,
        shard_size=shard_size or settings.shard_size,
        labels=dict(labels or {}),
        idempotency_key=idempotency_key,
        grading=grading or settings.grading,
        priority=priority,
    )


def request_from_body(body: EvalCreate, settings: Settings,
                      idempotency_key: str | None = None,
                      creator: Actor | None = None) -> EvalRequest:
    """The domain request of a POST /v1/evals body, with the server's defaults. An empty or
    blank Idempotency-Key is no key."""
    sampling = body.sampling
    request = request_with_defaults(
        settings, model=body.model, datasets=body.datasets, judge=body.judge,
        max_tokens=sampling.max_tokens, temperature=sampling.temperature,
        top_p=sampling.top_p, seed=sampling.seed, system_prompt=body.system_prompt,
        limit=body.limit, draw_seed=body.draw_seed, shard_size=body.shard_size,
        grading=body.grading, labels=body.labels,
        idempotency_key=(idempotency_key or "").strip() or None, priority=body.priority)
    return replace(request, creator=creator)


def submit_eval(session: Session, request: EvalRequest, *, enqueue: bool = True,
                connection: Redis | None = None, prefix: str | None = None,
                scheduled: bool = False) -> Submission:
    """Write the eval and its shards and, with enqueue, register the enqueue of its first
    stage for after the caller's commit. An Idempotency-Key that names an earlier eval
    answers with that eval; an unknown dataset is an input error (422), not a missing
    resource."""
    validate_request(request, scheduled=scheduled)
    existing = _by_idempotency_key(session, stored_idempotency_key(request))
    if existing is not None:
        return Submission(_same_request(existing, request), created=False)
    check_adapter_spec(session, request.model)
    check_adapter_spec(session, request.judge)
    dataset_ids = resolve_datasets(session, request)
    item_ids = select_items(session, dataset_ids, request.limit, request.draw_seed)
    if not item_ids:
        raise InvalidInput(f"datasets {request.datasets} hold no items")
    evaluation = _insert_eval(session, request, dataset_ids, len(item_ids))
    if evaluation is None:  # another submission with the same key committed first
        return Submission(_same_request(_by_idempotency_key_or_fail(
            session, stored_idempotency_key(request)), request), created=False)
    actor = request.creator or local_actor()
    stamp(evaluation, actor)
    record(session, actor, AuditAction.EVAL_SUBMIT, "eval", evaluation.id,
           model=request.model, judge=request.judge, datasets=request.datasets,
           n_items=len(item_ids))
    for index, start in enumerate(range(0, len(item_ids), request.shard_size)):
        chunk = item_ids[start:start + request.shard_size]
        for stage in Stage:
            session.add(Shard(eval_id=evaluation.id, stage=stage, index=index, item_ids=chunk,
                              status=ShardStatus.QUEUED))
    session.flush()
    if enqueue:
        enqueue_after_commit(session, evaluation, Stage.GENERATE, evaluation.model,
                             connection, prefix)
    return Submission(evaluation, created=True)


def cancel_eval(session: Session, eval_id: str, *, connection: Redis | None = None,
                actor: Actor | None = None) -> Eval:
    """Cancel the eval (workers skip its shards) and, once that commits, drop its jobs that
    still wait in a queue. A finished eval is returned unchanged; a cancellation is recorded
    in the audit log under `actor` (default: the local user)."""
    was_open = lifecycle.get_eval(session, eval_id).status in lifecycle.OPEN
    evaluation = lifecycle.cancel_eval(session, eval_id)
    if evaluation.status == EvalStatus.CANCELLED and was_open:
        calibration = evaluation.purpose == EvalPurpose.CALIBRATION
        record(session, actor or local_actor(),
               AuditAction.CALIBRATION_CANCEL if calibration else AuditAction.EVAL_CANCEL,
               "calibration" if calibration else "eval", eval_id)
        # A worker would skip them anyway; this keeps the queues short.
        jids = [jobs.job_id(eval_id, stage, index)
                for index in lifecycle.shard_indexes(session, eval_id) for stage in Stage]
        jobs.after_commit(session, lambda: jobs.discard_waiting_jobs(
            connection or redis_connection(), jids), f"discard jobs of eval {eval_id}")
    return evaluation


def resolve_datasets(session: Session, request: EvalRequest) -> list[int]:
    """The ids of the request's datasets; an unknown one is an input error (422), not a
    missing resource. Reads only."""
    try:
        return [resolve_dataset(session, name).id for name in request.datasets]
    except NotFound as exc:
        raise InvalidInput(exc.detail) from exc


SCHEDULE_KEY_PREFIX = "schedule:"  # Idempotency-Keys of scheduled evals (schedules.firing)


def validate_request(request: EvalRequest, *, scheduled: bool = False) -> None:
    """Every check that needs no database: InvalidInput naming the first problem. Keys that
    start like a schedule's are the scheduler's alone (scheduled=True)."""
    key = request.idempotency_key
    if key is not None and key.startswith(SCHEDULE_KEY_PREFIX) and not scheduled:
        raise InvalidInput(f"Idempotency-Keys starting with {SCHEDULE_KEY_PREFIX!r} belong to "
                           "scheduled evals; choose another key")
    validate_model_spec(request.model)
    validate_model_spec(request.judge)
    if not request.datasets:
        raise InvalidInput("name at least one dataset")
    if request.limit is not None and request.limit < 1:
        raise InvalidInput("limit must be at least 1")
    if request.draw_seed < 0:
        raise InvalidInput("draw_seed must be at least 0")
    if request.shard_size < 1:
        raise InvalidInput("shard_size must be at least 1")
    try:
        check_grading(request.grading)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    if request.priority not in set(Priority):
        raise InvalidInput(f"unknown priority {request.priority!r}; use one of "
                           f"{', '.join(Priority)}")
    s = request.sampling
    if s.max_tokens < 1:
        raise InvalidInput("max_tokens must be at least 1")
    if not 0.0 <= s.temperature <= 2.0:
        raise InvalidInput("temperature must be within 0..2")
    if not 0.0 < s.top_p <= 1.0:
        raise InvalidInput("top_p must be within (0, 1]")


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


def _insert_eval(session: Session, request: EvalRequest, dataset_ids: list[int],
                 n_items: int) -> Eval | None:
    """Insert the eval row; None when its Idempotency-Key is taken (an upsert on the key
    that does nothing on conflict, so two racing submissions leave one eval)."""
    eval_id = new_id()
    upsert(session, Eval, [{
        "id": eval_id, "status": EvalStatus.QUEUED.value, "model": request.model,
        "judge": request.judge, "dataset_ids": dataset_ids,
        "settings": _recorded_settings(request), "target_engine": None, "judge_engine": None,
        "labels": dict(request.labels), "priority": str(request.priority),
        "n_items": n_items, "summary": None, "error": None,
        "idempotency_key": stored_idempotency_key(request), "created_at": utcnow(),
        "started_at": None, "finished_at": None,
    }], keys=["idempotency_key"] if request.idempotency_key else ["id"])
    return session.get(Eval, eval_id)


def enqueue_after_commit(session: Session, evaluation: Eval, stage: Stage, spec: str,
                         connection: Redis | None = None, prefix: str | None = None) -> None:
    """Once the caller's transaction commits, enqueue every shard of the eval's `stage` on
    the queue of `spec` at the eval's priority; nothing when it rolls back. Redis being down
    does not undo the commit (the reconciler enqueues what is missing)."""
    eval_id, priority = evaluation.id, Priority(evaluation.priority)
    indexes = lifecycle.shard_indexes(session, eval_id)

    def enqueue() -> None:
        conn = connection or redis_connection()
        for index in indexes:
            jobs.enqueue_shard(conn, eval_id, stage, index, spec, priority, prefix=prefix)

    jobs.after_commit(session, enqueue, f"enqueue {stage} shards of eval {eval_id}")


def stored_idempotency_key(request: EvalRequest) -> str | None:
    """The key as stored: scoped to the API key that sent it, so two callers never meet."""
    if not request.idempotency_key:
        return None
    if request.caller is None:
        return request.idempotency_key
    return f"key{request.caller}:{request.idempotency_key}"


def request_fingerprint(request: EvalRequest) -> str:
    """sha256 of what the request asks for: a reused Idempotency-Key must come with it."""
    asked = {**_recorded_settings(request, with_fingerprint=False),
             "labels": dict(sorted(request.labels.items())), "priority": str(request.priority)}
    return hashlib.sha256(json.dumps(asked, sort_keys=True, default=str).encode()).hexdigest()


def _same_request(existing: Eval, request: EvalRequest) -> Eval:
    """The earlier eval of an Idempotency-Key, when this request asks for the same thing;
    Conflict (409) when it asks for something else under the same key."""
    recorded = existing.settings.get("request_sha256")
    if recorded is not None and recorded != request_fingerprint(request):
        raise Conflict(f"the Idempotency-Key {request.idempotency_key!r} was used for eval "
                       f"{existing.id} with a different request; use a new key for a new eval")
    return existing


def _recorded_settings(request: EvalRequest, with_fingerprint: bool = True) -> dict[str, Any]:
    recorded = {
        "model": request.model, "judge": request.judge, "system_prompt": request.system_prompt,
        "sampling": asdict(request.sampling), "limit": request.limit,
        "draw_seed": request.draw_seed,
        "shard_size": request.shard_size, "rubric_version": RUBRIC_VERSION,
        "grading": str(request.grading),
        "datasets": list(request.datasets),
    }
    if with_fingerprint:
        recorded["request_sha256"] = request_fingerprint(request)
    return recorded


def _by_idempotency_key(session: Session, key: str | None) -> Eval | None:
    if not key:
        return None
    return session.scalars(select(Eval).where(Eval.idempotency_key == key)).first()


def _by_idempotency_key_or_fail(session: Session, key: str | None) -> Eval:
    existing = _by_idempotency_key(session, key)
    if existing is None:
        raise RuntimeError(f"the eval with Idempotency-Key {key!r} vanished while we looked")
    return existing

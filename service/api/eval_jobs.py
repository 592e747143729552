"""Evals as queued work: submit (validate, honour the Idempotency-Key, enqueue after commit)
and cancel (drop the jobs still waiting, after commit)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service import evals, queue
from service.config import Settings
from service.errors import InvalidInput, NotFound
from service.model_specs import validate_model_spec
from service.models import Eval
from service.schemas import EvalCreate


@dataclass(frozen=True)
class Submission:
    evaluation: Eval
    created: bool  # False: the Idempotency-Key named an eval submitted before


def eval_request(body: EvalCreate, settings: Settings, idempotency_key: str | None) -> (
        evals.EvalRequest):
    """The domain request, with the server's defaults for every field the body left out."""
    sampling = body.sampling
    return evals.request_with_defaults(
        settings, model=body.model, datasets=body.datasets, judge=body.judge,
        max_tokens=sampling.max_tokens, temperature=sampling.temperature,
        top_p=sampling.top_p, seed=sampling.seed, system_prompt=body.system_prompt,
        limit=body.limit, shard_size=body.shard_size, grading=body.grading,
        labels=body.labels, idempotency_key=idempotency_key)


def submit_eval(session: Session, request: evals.EvalRequest, priority: str) -> Submission:
    """Write the eval and its shards and register the enqueue of its first stage for after
    the caller's commit. Everything is checked before anything is written; an unknown
    dataset is an input error (422), not a missing resource."""
    validate_model_spec(request.model)
    validate_model_spec(request.judge)
    key = request.idempotency_key
    existing = _by_idempotency_key(session, key)
    if existing is not None:
        return Submission(existing, created=False)
    try:
        evaluation = evals.create_eval(session, request)
    except NotFound as exc:
        raise InvalidInput(exc.detail) from exc
    except IntegrityError:
        # Another request with the same key committed between our lookup and our insert.
        # Undo this unit of work's (failed) insert and answer with the winner's eval; a
        # savepoint would be neater, but pysqlite commits on RELEASE outside a transaction.
        session.rollback()
        existing = _by_idempotency_key(session, key)
        if existing is None:
            raise
        return Submission(existing, created=False)
    queue.enqueue_eval_after_commit(session, evaluation.id, priority)
    return Submission(evaluation, created=True)


def _by_idempotency_key(session: Session, key: str | None) -> Eval | None:
    if not key:
        return None
    return session.scalars(select(Eval).where(Eval.idempotency_key == key)).first()


def cancel_eval(session: Session, eval_id: str) -> Eval:
    """Cancel the eval (workers skip its shards) and, once that commits, drop its jobs that
    still wait in a queue. A finished eval is returned unchanged."""
    evaluation = evals.cancel_eval(session, eval_id)
    if evaluation.status == "cancelled":
        queue.discard_eval_jobs_after_commit(session, eval_id)
    return evaluation

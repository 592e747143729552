"""/v1/evals: submit, list, read, page through results, summarise and cancel evals."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response
from redis.exceptions import RedisError
from sqlalchemy.orm import Session

from service.api.deps import CurrentKey, SessionDep, SettingsDep, WriteKey
from service.api.etag import ETagRoute
from service.api.params import UtcTime
from service.api.presenters import eval_read
from service.audit import key_actor
from service.auth import require_owner
from service.benchmarks.principles import FIRST_PRINCIPLE, LAST_PRINCIPLE
from service.evals import browse, lifecycle
from service.evals import service as evals
from service.evals.purpose import EvalPurpose
from service.evals.reports import eval_judge_calibration, eval_report
from service.evals.schemas import (
    EvalCreate,
    EvalList,
    EvalRead,
    EvalReport,
    JudgeStatus,
    ResultList,
)
from service.model_specs import serving_spec
from service.models import Eval
from service.queue.connection import redis_connection
from service.queue.jobs import Priority, queue_name
from service.queue.liveness import queue_has_worker

router = APIRouter(prefix="/evals", tags=["evals"], route_class=ETagRoute)

Limit = Annotated[int, Query(ge=1, le=browse.MAX_PAGE, description="items per page")]
Cursor = Annotated[str | None, Query(description="next_cursor of the previous page")]


@router.post("", status_code=202, response_model=EvalRead, responses={
    200: {"model": EvalRead, "description": "the Idempotency-Key named an earlier eval"},
    409: {"description": "the Idempotency-Key was used with a different request"}})
def create_eval(
    body: EvalCreate,
    session: SessionDep,
    settings: SettingsDep,
    key: WriteKey,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=150)] = None,
) -> EvalRead:
    """Queue an eval. Answers 202 once the eval and its shards are committed (the shard jobs
    are enqueued on commit); 200 with the earlier eval when this key sent the same request
    with the same Idempotency-Key, 409 when it sent a different one. An empty
    Idempotency-Key is none."""
    request = evals.request_from_body(body, settings, idempotency_key, creator=key_actor(key))
    submission = evals.submit_eval(session, request)
    if not submission.created:
        response.status_code = 200
    return _detail(session, submission.evaluation)


@router.get("", response_model=EvalList)
def list_evals(
    session: SessionDep,
    _key: CurrentKey,
    status: str | None = None,
    model: str | None = None,
    label: Annotated[list[str] | None, Query(description="key=value; repeat for several")] = None,
    created_after: UtcTime | None = None,
    created_before: UtcTime | None = None,
    regression: Annotated[bool | None, Query(description="true: scheduled evals that "
                                             "regressed against their schedule's previous "
                                             "eval")] = None,
    schedule: Annotated[str | None, Query(max_length=32, description="a schedule id")] = None,
    cursor: Cursor = None,
    limit: Limit = browse.DEFAULT_PAGE,
) -> EvalList:
    """Evals, newest first, one page at a time."""
    filters = browse.EvalFilters(
        status=status, model=model, labels=browse.parse_labels(label or []),
        created_after=created_after, created_before=created_before, regression=regression,
        schedule_id=schedule)
    page = browse.list_evals(session, filters, cursor, limit)
    return EvalList(items=[eval_read(e) for e in page.items], next_cursor=page.next_cursor)


@router.get("/{eval_id}", response_model=EvalRead)
def read_eval(eval_id: str, session: SessionDep, _key: CurrentKey) -> EvalRead:
    """Status, progress (shards per stage, items answered and judged), timings, settings,
    engines; the summary when done."""
    return _detail(session, lifecycle.get_eval(session, eval_id, EvalPurpose.BENCHMARK))


@router.get("/{eval_id}/results", response_model=ResultList)
def read_results(
    eval_id: str,
    session: SessionDep,
    _key: CurrentKey,
    principle: Annotated[int | None, Query(ge=FIRST_PRINCIPLE, le=LAST_PRINCIPLE)] = None,
    min_score: Annotated[int | None, Query(ge=1, le=5)] = None,
    max_score: Annotated[int | None, Query(ge=1, le=5)] = None,
    judge_status: JudgeStatus | None = None,
    disagreement: Annotated[bool | None, Query(description="only items where the judge and "
                                               "the refusal detector contradict (true), or "
                                               "only the others (false)")] = None,
    cursor: Cursor = None,
    limit: Limit = browse.DEFAULT_PAGE,
) -> ResultList:
    """The items answered so far, in item order, with their grades (pending: not judged)."""
    filters = browse.ResultFilters(principle=principle, min_score=min_score,
                                   max_score=max_score, judge_status=judge_status,
                                   disagreement=disagreement)
    page = browse.eval_results(session, eval_id, filters, cursor, limit)
    return ResultList(items=page.items, next_cursor=page.next_cursor)


@router.get("/{eval_id}/summary", response_model=EvalReport,
            responses={409: {"description": "the eval has not succeeded"}})
def read_summary(eval_id: str, session: SessionDep, _key: CurrentKey) -> EvalReport:
    """The eval's metrics: the same JSON object `medsafe eval --json` prints. 409 Conflict
    until the eval has succeeded (the summary is written by its last judge shard)."""
    evaluation = lifecycle.get_eval(session, eval_id, EvalPurpose.BENCHMARK)
    return eval_report(evaluation, eval_judge_calibration(session, evaluation))


@router.post("/{eval_id}/cancel", response_model=EvalRead)
def cancel_eval(eval_id: str, session: SessionDep, key: WriteKey) -> EvalRead:
    """Cancel pending shards; finished rows stay. Cancelling a finished eval changes nothing.
    Only the key that submitted the eval (or the schedule that fired it) or an admin key may
    (403)."""
    evaluation = lifecycle.get_eval(session, eval_id, EvalPurpose.BENCHMARK)  # 404: calibration
    require_owner(key, evaluation.created_by_key_id, f"eval {eval_id}")
    return _detail(session, evals.cancel_eval(session, eval_id, actor=key_actor(key)))


def _detail(session: Session, evaluation: Eval) -> EvalRead:
    """One eval with its progress in shards and in items, its judge's calibration and, while
    it is unfinished, whether a live worker takes its next shards."""
    progress = lifecycle.stage_progress(session, evaluation.id)
    return eval_read(evaluation, progress, lifecycle.item_progress(session, evaluation),
                     eval_judge_calibration(session, evaluation),
                     _waiting(evaluation, progress))


def _waiting(evaluation: Eval, progress: dict[str, dict[str, int]]) -> str | None:
    """What an unfinished eval waits for when no worker serves its next stage, else None."""
    if evaluation.status not in lifecycle.OPEN:
        return None
    generating = any(status != "succeeded" for status in progress.get("generate", {}))
    stage, spec = ((lifecycle.Stage.GENERATE, evaluation.model) if generating
                   else (lifecycle.Stage.JUDGE, evaluation.judge))
    queue = queue_name(stage, spec, Priority(evaluation.priority))
    try:
        if queue_has_worker(redis_connection(), queue):
            return None
    except RedisError:
        return None  # the queue cannot be asked now; /readyz says why
    role = "--models" if stage == lifecycle.Stage.GENERATE else "--judge"
    return (f"no live worker serves {spec} ({stage} shards wait on {queue}): start one with "
            f"`medsafe worker {role} {serving_spec(spec)}`")

"""Listing evals and their results page by page: filters and keyset pagination, all in SQL.

A page is fetched with one query that reads one row more than asked; the cursor of the next
page encodes the sort key of the last row shown, so pages never skip or repeat a row when
new evals arrive in between. Cursors are opaque to clients (base64 of a JSON list).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, and_, not_, or_, select
from sqlalchemy.orm import Session, aliased

from service.benchmarks.items import HARMFUL_KINDS, ItemKind
from service.cursors import decode_cursor, encode_cursor
from service.errors import InvalidInput
from service.evals.lifecycle import get_eval
from service.evals.purpose import EvalPurpose
from service.evals.schemas import ResultRead
from service.models import Eval, Item, Judgment, Response
from service.pipeline.judging.refusal import REFUSAL_JUDGE, RefusalClass
from service.pipeline.metrics import HARMFUL_THRESHOLD, disagrees
from service.pipeline.records import GradedItem

T = TypeVar("T")
DEFAULT_PAGE = 50
MAX_PAGE = 500


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True)
class EvalFilters:
    status: str | None = None
    model: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    created_after: datetime | None = None
    created_before: datetime | None = None
    regression: bool | None = None  # true: regressed scheduled evals; false: the others
    schedule_id: str | None = None


@dataclass(frozen=True)
class ResultFilters:
    principle: int | None = None
    min_score: int | None = None
    max_score: int | None = None
    judge_status: str | None = None  # "scored" | "unscored" | "pending" (not judged yet)
    disagreement: bool | None = None  # the judge and the refusal detector contradict


def parse_labels(pairs: list[str]) -> dict[str, str]:
    """`key=value` strings as a dict; InvalidInput for a pair without `=`."""
    labels: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidInput(f"label filter {pair!r} is not key=value")
        labels[key] = value
    return labels


def list_evals(
    session: Session, filters: EvalFilters, cursor: str | None = None, limit: int = DEFAULT_PAGE
) -> Page[Eval]:
    """Evals newest first, keyset-paginated on (created_at, id)."""
    query = _eval_filters(select(Eval), filters)
    if cursor:
        created_text, eval_id = decode_cursor(cursor, (str, str))
        created_at = _utc(_parse_time(created_text))
        query = query.where(or_(
            Eval.created_at < created_at,
            and_(Eval.created_at == created_at, Eval.id < eval_id),
        ))
    size = _page_size(limit)
    rows = list(session.scalars(
        query.order_by(Eval.created_at.desc(), Eval.id.desc()).limit(size + 1)
    ))
    page, more = rows[:size], len(rows) > size
    last = page[-1] if page else None
    next_cursor = encode_cursor(last.created_at.isoformat(), last.id) if more and last else None
    return Page(items=page, next_cursor=next_cursor)


def _eval_filters(query: Select[Eval], filters: EvalFilters) -> Select[Eval]:
    query = query.where(Eval.purpose == EvalPurpose.BENCHMARK)
    if filters.status:
        query = query.where(Eval.status == filters.status)
    if filters.model:
        query = query.where(Eval.model == filters.model)
    for key, value in filters.labels.items():
        query = query.where(Eval.labels[key].as_string() == value)
    if filters.created_after:
        query = query.where(Eval.created_at >= _utc(filters.created_after))
    if filters.created_before:
        query = query.where(Eval.created_at < _utc(filters.created_before))
    if filters.regression is not None:
        query = query.where(Eval.regressed.is_(True) if filters.regression
                            else or_(Eval.regressed.is_(False), Eval.regressed.is_(None)))
    if filters.schedule_id:
        query = query.where(Eval.schedule_id == filters.schedule_id)
    return query


def eval_results(
    session: Session,
    eval_id: str,
    filters: ResultFilters,
    cursor: str | None = None,
    limit: int = DEFAULT_PAGE,
) -> Page[ResultRead]:
    """The answered items of an eval in item order with the eval's judge's grades and the
    refusal verdict, one page at a time (NotFound for an unknown eval)."""
    judge = get_eval(session, eval_id, EvalPurpose.BENCHMARK).judge
    grade, refusal = aliased(Judgment), aliased(Judgment)
    query: Select[*tuple[Any, ...]] = (
        select(Item.id.label("item_id"), Item.prompt, Item.principle, Item.kind, Item.source,
               Response.text.label("response"), Response.finish_reason, grade.score,
               grade.reason, grade.status.label("judge_status"), grade.expected, refusal.refused,
               refusal.refusal)
        .join(Response, Response.item_id == Item.id)
        .outerjoin(grade, and_(grade.eval_id == eval_id, grade.item_id == Item.id,
                               grade.judge == judge))
        .outerjoin(refusal, and_(refusal.eval_id == eval_id, refusal.item_id == Item.id,
                                 refusal.judge == REFUSAL_JUDGE))
        .where(Response.eval_id == eval_id)
    )
    query = _result_filters(query, grade, refusal, filters)
    if cursor:
        (after,) = decode_cursor(cursor, (int,))
        # Both sides of the join, so the responses scan starts after the page too.
        query = query.where(Item.id > after, Response.item_id > after)
    size = _page_size(limit)
    rows = session.execute(query.order_by(Item.id).limit(size + 1)).all()
    page = [_result_row(row) for row in rows[:size]]
    next_cursor = encode_cursor(page[-1].item_id) if len(rows) > size and page else None
    return Page(items=page, next_cursor=next_cursor)


def _result_filters(
    query: Select[*tuple[Any, ...]], grade: Any, refusal: Any, filters: ResultFilters
) -> Select[*tuple[Any, ...]]:
    if filters.principle is not None:
        query = query.where(Item.principle == filters.principle)
    if filters.min_score is not None:
        query = query.where(grade.score >= filters.min_score)
    if filters.max_score is not None:
        query = query.where(grade.score <= filters.max_score)
    if filters.judge_status == "pending":
        query = query.where(grade.id.is_(None))
    elif filters.judge_status:
        query = query.where(grade.status == filters.judge_status)
    if filters.disagreement is not None:
        # metrics.disagrees, as SQL: harmful items the judge and the detector contradict on.
        contradiction = and_(
            Item.kind.in_([str(kind) for kind in HARMFUL_KINDS]),
            or_(and_(grade.score <= 2, refusal.refusal == RefusalClass.FULL_COMPLIANCE),
                and_(grade.score >= HARMFUL_THRESHOLD,
                     refusal.refusal == RefusalClass.FULL_REFUSAL)))
        query = query.where(contradiction if filters.disagreement
                            else or_(not_(contradiction), grade.score.is_(None),
                                     refusal.refusal.is_(None)))
    return query


def _result_row(row: Any) -> ResultRead:
    """A result from its labelled columns; no grade yet is judge_status "pending"."""
    item = GradedItem(item_id=row.item_id, kind=ItemKind(row.kind), principle=row.principle,
                      source=row.source, score=row.score, refused=row.refused,
                      refusal=row.refusal)
    return ResultRead.model_validate(
        {**row._mapping, "judge_status": row.judge_status or "pending",
         "disagreement": disagrees(item)})


def _page_size(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be within 1..{MAX_PAGE}")
    return limit


def _utc(moment: datetime) -> datetime:
    """An aware UTC time; a time without an offset is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _parse_time(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput("the cursor is not one this API returned") from exc

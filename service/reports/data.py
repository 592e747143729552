"""What the HTML report reads besides the summary: the worst items and the distribution of
harmfulness scores."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.benchmarks.items import HARMFUL_KINDS
from service.evals import browse
from service.evals.schemas import ResultRead
from service.models import Eval, Item, Judgment, Response

SCORES = (1, 2, 3, 4, 5)
DEFAULT_WORST = 50
MAX_WORST = browse.MAX_PAGE


def worst_items(session: Session, eval_id: str, limit: int = DEFAULT_WORST) -> list[ResultRead]:
    """Up to `limit` scored items, most harmful first (score 5 down to 1), in item order
    within a score: at most five bounded queries, whatever the eval's size."""
    rows: list[ResultRead] = []
    for score in reversed(SCORES):
        if len(rows) >= limit:
            break
        filters = browse.ResultFilters(min_score=score, max_score=score)
        rows += browse.eval_results(session, eval_id, filters, limit=limit - len(rows)).items
    return rows


def score_distribution(session: Session, evaluation: Eval) -> dict[int, int]:
    """How many answered harmful items the eval's judge scored 1, 2, ... 5 (the items the
    mean harmfulness is over), counted in SQL."""
    query = (
        select(Judgment.score, func.count())
        .join(Item, Item.id == Judgment.item_id)
        .join(Response, (Response.eval_id == Judgment.eval_id)
              & (Response.item_id == Judgment.item_id))
        .where(Judgment.eval_id == evaluation.id, Judgment.judge == evaluation.judge,
               Judgment.score.is_not(None),
               Item.kind.in_([str(kind) for kind in HARMFUL_KINDS]))
        .group_by(Judgment.score)
    )
    counts = {int(score or 0): int(n) for score, n in session.execute(query).all()}
    return {score: counts.get(score, 0) for score in SCORES}

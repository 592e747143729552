"""What each dashboard page shows, read through the service functions the REST routers call
(service.evals.browse, lifecycle, reports, compare, trends, service.schedules.store,
service.evals.calibrations): one query path for the API and the dashboard."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from service import auth
from service.benchmarks.principles import PRINCIPLES
from service.benchmarks.store import list_datasets
from service.calibration.schemas import JudgeCalibration
from service.errors import InvalidInput
from service.evals import browse, calibrations, lifecycle, trends
from service.evals.compare import compare_evals
from service.evals.purpose import EvalPurpose
from service.evals.reports import eval_judge_calibration
from service.evals.schemas import ItemProgress, ResultRead
from service.models import ApiKey, Eval
from service.pipeline.summaries import EvalSummary
from service.schedules import store as schedules
from service.ui import charts

PAGE = 50
STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
PRINCIPLE_NAMES = {str(p.number): p.name for p in PRINCIPLES}


@dataclass(frozen=True)
class EvalRow:
    evaluation: Eval
    summary: EvalSummary | None
    items: ItemProgress | None
    calibration: JudgeCalibration
    open: bool


def _summary(evaluation: Eval) -> EvalSummary | None:
    return (EvalSummary.model_validate(evaluation.summary)
            if evaluation.summary is not None else None)


def parse_int(value: str | None, name: str, low: int, high: int) -> int | None:
    """A query parameter as an int in low..high; blank is None; InvalidInput otherwise."""
    if value is None or not value.strip():
        return None
    try:
        number = int(value)
    except ValueError:
        raise InvalidInput(f"{name} must be a whole number") from None
    if not low <= number <= high:
        raise InvalidInput(f"{name} must be within {low}..{high}")
    return number


def parse_bool(value: str | None) -> bool | None:
    return {"true": True, "false": False}.get((value or "").strip().lower())


def evals_page(session: Session, status: str | None, model: str | None, labels: list[str],
               regression: bool | None, cursor: str | None,
               schedule: str | None = None) -> dict[str, Any]:
    """The eval list as GET /v1/evals filters it, with each one's progress and judge's
    calibration (the single-eval fields of the API, shown per row)."""
    filters = browse.EvalFilters(status=status or None, model=model or None,
                                 labels=browse.parse_labels([x for x in labels if x]),
                                 regression=regression, schedule_id=schedule or None)
    page = browse.list_evals(session, filters, cursor or None, PAGE)
    known: dict[tuple[str, Any], JudgeCalibration] = {}
    rows = []
    for evaluation in page.items:
        grading = evaluation.settings.get("grading")
        if (evaluation.judge, grading) not in known:
            known[(evaluation.judge, grading)] = eval_judge_calibration(session, evaluation)
        is_open = evaluation.status in lifecycle.OPEN
        rows.append(EvalRow(evaluation, _summary(evaluation),
                            lifecycle.item_progress(session, evaluation) if is_open else None,
                            known[(evaluation.judge, grading)], is_open))
    return {"rows": rows, "next_cursor": page.next_cursor, "statuses": STATUSES,
            "live": any(row.open for row in rows),
            "filters": {"status": status or "", "model": model or "",
                        "label": [x for x in labels if x],
                        "regression": "" if regression is None else str(regression).lower(),
                        "schedule": schedule or ""}}


# Score counts of finished evals: their grades no longer change, so the dashboard reads
# them once per process rather than on every refresh.
_DISTRIBUTIONS: OrderedDict[tuple[str, str], dict[str, int]] = OrderedDict()
_DISTRIBUTIONS_LOCK = threading.Lock()
_DISTRIBUTIONS_KEPT = 64
# A running eval's distribution is read again on every refresh: only while it is small.
LIVE_DISTRIBUTION_MAX_ITEMS = 2000


def score_distribution(session: Session, evaluation: Eval, cache_key: str) -> dict[str, int]:
    """How many answers got each score 1..5, unscored and not yet judged, read page by page
    through browse.eval_results (as GET /v1/evals/{id}/results)."""
    terminal = evaluation.status not in lifecycle.OPEN
    key = (cache_key, evaluation.id)
    if terminal:
        with _DISTRIBUTIONS_LOCK:
            if key in _DISTRIBUTIONS:
                return dict(_DISTRIBUTIONS[key])
    counts = {**{str(s): 0 for s in range(1, 6)}, "unscored": 0, "pending": 0}
    cursor: str | None = None
    while True:
        page = browse.eval_results(session, evaluation.id, browse.ResultFilters(), cursor,
                                   browse.MAX_PAGE)
        for row in page.items:
            counts[str(row.score) if row.score is not None else row.judge_status] += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    if terminal:
        with _DISTRIBUTIONS_LOCK:
            _DISTRIBUTIONS[key] = dict(counts)
            while len(_DISTRIBUTIONS) > _DISTRIBUTIONS_KEPT:
                _DISTRIBUTIONS.popitem(last=False)
    return counts


@dataclass(frozen=True)
class ResultQuery:
    principle: int | None = None
    min_score: int | None = None
    max_score: int | None = None
    judge_status: str | None = None
    disagreement: bool | None = None
    cursor: str | None = None

    def as_params(self) -> dict[str, str]:
        values = {"principle": self.principle, "min_score": self.min_score,
                  "max_score": self.max_score, "judge_status": self.judge_status,
                  "disagreement": (None if self.disagreement is None
                                   else str(self.disagreement).lower())}
        return {k: str(v) for k, v in values.items() if v is not None}


def eval_page(session: Session, key: ApiKey, eval_id: str, query: ResultQuery,
              cache_key: str) -> dict[str, Any]:
    """One eval: what GET /v1/evals/{id}, /summary and /results show, and its charts."""
    evaluation = lifecycle.get_eval(session, eval_id, EvalPurpose.BENCHMARK)
    summary = _summary(evaluation)
    if query.judge_status not in (None, "scored", "unscored", "pending"):
        raise InvalidInput("judge_status is scored, unscored or pending")
    results = browse.eval_results(
        session, eval_id, browse.ResultFilters(
            principle=query.principle, min_score=query.min_score, max_score=query.max_score,
            judge_status=query.judge_status, disagreement=query.disagreement),
        query.cursor, PAGE)
    is_open = evaluation.status in lifecycle.OPEN
    distribution = (None if is_open and evaluation.n_items > LIVE_DISTRIBUTION_MAX_ITEMS
                    else score_distribution(session, evaluation, cache_key))
    try:
        auth.require_scope(key, auth.Scope.WRITE)
        auth.require_owner(key, evaluation.created_by_key_id, f"eval {eval_id}")
        may_cancel = is_open
    except auth.Forbidden:
        may_cancel = False
    return {
        "evaluation": evaluation, "summary": summary, "open": is_open, "live": is_open,
        "stages": lifecycle.stage_progress(session, eval_id),
        "items": lifecycle.item_progress(session, evaluation),
        "calibration": eval_judge_calibration(session, evaluation),
        "chart": charts.principle_bars(summary.by_principle) if summary else None,
        "distribution": distribution,
        "distribution_chart": (charts.count_bars(distribution, "answers per score")
                               if distribution is not None else None),
        "principle_names": PRINCIPLE_NAMES,
        "results": results.items, "next_cursor": results.next_cursor,
        "query": query, "may_cancel": may_cancel,
        "datasets": list(evaluation.settings.get("datasets", [])),
    }


def result_title(row: ResultRead, limit: int = 90) -> str:
    text = " ".join(row.prompt.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def recent_succeeded(session: Session) -> list[Eval]:
    page = browse.list_evals(session, browse.EvalFilters(status="succeeded"), None, 100)
    return page.items


def compare_page(session: Session, base: str | None, candidate: str | None) -> dict[str, Any]:
    """GET /v1/compare as a before/after view."""
    context: dict[str, Any] = {"base": base or "", "candidate": candidate or "",
                               "choices": recent_succeeded(session), "comparison": None,
                               "chart": None, "principle_names": PRINCIPLE_NAMES}
    if base and candidate:
        comparison = compare_evals(session, base, candidate)
        context["comparison"] = comparison
        context["chart"] = charts.delta_bars(comparison.by_principle)
        context["base_eval"] = lifecycle.get_eval(session, base, EvalPurpose.BENCHMARK)
        context["candidate_eval"] = lifecycle.get_eval(session, candidate,
                                                       EvalPurpose.BENCHMARK)
    return context


def dataset_names(session: Session) -> list[str]:
    return [d.name for d in list_datasets(session)]


def history_page(session: Session, model: str | None, dataset: str | None) -> dict[str, Any]:
    """GET /v1/models/{model}/history as a trend line with regressions marked."""
    context: dict[str, Any] = {"model": model or "", "dataset": dataset or "",
                               "datasets": dataset_names(session), "history": None,
                               "chart": None}
    if model and dataset:
        history = trends.model_history(session, model, dataset)
        context["history"] = history
        if history.points:
            context["chart"] = charts.history_line(
                [(p.eval_id, p.fire_time or p.created_at, p.mean_harmfulness, p.ci_low,
                  p.ci_high, p.regressed) for p in history.points])
    return context


def leaderboard_page(session: Session, dataset: str | None) -> dict[str, Any]:
    """GET /v1/leaderboard."""
    names = dataset_names(session)
    chosen = dataset or (names[0] if names else "")
    return {"dataset": chosen, "datasets": names,
            "board": trends.leaderboard(session, chosen) if chosen else None}


def schedules_page(session: Session) -> dict[str, Any]:
    """GET /v1/schedules with each schedule's latest runs (GET /v1/schedules/{id}/runs)."""
    rows = [(schedules.schedule_read(s), schedules.schedule_runs(session, s.id, 10))
            for s in schedules.list_schedules(session)]
    return {"rows": rows}


def calibrations_page(session: Session, judge: str | None, set_name: str | None
                      ) -> dict[str, Any]:
    """GET /v1/calibrations."""
    runs = calibrations.list_calibrations(session, judge or None, set_name or None, 100)
    reads = [calibrations.calibration_read(r) for r in runs]
    return {"runs": reads, "judge": judge or "", "set": set_name or "",
            "live": any(r.status in lifecycle.OPEN for r in reads)}

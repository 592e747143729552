"""An eval's report as one self-contained HTML page (Jinja2, autoescaped; charts inline)."""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from sqlalchemy.orm import Session

from service.benchmarks.principles import PRINCIPLES
from service.evals.reports import eval_judge_calibration, eval_report
from service.evals.schemas import EvalReport, ResultRead
from service.models import Eval
from service.reports import charts
from service.reports.data import DEFAULT_WORST, score_distribution, worst_items

# Sent with the page and repeated in it: nothing may be loaded from anywhere.
CONTENT_SECURITY_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                           "base-uri 'none'; form-action 'none'")
MAX_TEXT = 5000  # characters of a request, response or reason shown per item


@lru_cache(maxsize=1)
def environment() -> Environment:
    """Templates of this package; every value is HTML-escaped unless marked safe."""
    env = Environment(loader=PackageLoader("service.reports", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(num=_num, pct=_pct, raw=_raw, clip=_clip, as_json=_as_json)
    return env


def _num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _raw(value: float | int | None) -> str:
    """The exact value for data-value attributes (JSON's spelling)."""
    return json.dumps(value)


def _clip(text: str | None, limit: int = MAX_TEXT) -> str:
    if text is None:
        return ""
    if len(text) <= limit:
        return text
    return f"{text[:limit]} … [{len(text) - limit} more characters in results.csv]"


def _as_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def render_report(report: EvalReport, worst: list[ResultRead], distribution: dict[int, int],
                  finished_at: datetime | None = None) -> str:
    """The page for a succeeded eval's report, its worst items and its score counts: the
    same eval gives the same bytes (an ETag that holds while nothing changes)."""
    template = environment().get_template("report.html.j2")
    return template.render(
        report=report, worst=worst, finished_at=finished_at,
        csp=CONTENT_SECURITY_POLICY,
        principle_names={str(p.number): f"{p.number}. {p.name}" for p in PRINCIPLES},
        datasets=list(report.settings.get("datasets", [])),
        means_chart=charts.principle_means_chart(report.by_principle),
        rates_chart=charts.principle_rates_chart(report.by_principle),
        distribution_chart=charts.distribution_chart(distribution),
        distribution=distribution)


def eval_report_html(session: Session, evaluation: Eval, n_worst: int = DEFAULT_WORST) -> str:
    """The HTML report of a succeeded eval (Conflict before, as /summary)."""
    report = eval_report(evaluation, eval_judge_calibration(session, evaluation))
    return render_report(report, worst_items(session, evaluation.id, n_worst),
                         score_distribution(session, evaluation), evaluation.finished_at)

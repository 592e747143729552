"""An eval's grades as the metrics stage reads them, and the settings that shape them."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.benchmarks.items import ItemKind
from service.calibration.report import calibration_report
from service.calibration.schemas import CalibrationReport
from service.config import DEFAULT_GRADING, GradingMode
from service.evals.purpose import EvalPurpose
from service.models import Eval, Item, Judgment, Response
from service.pipeline import metrics
from service.pipeline.judging.refusal import REFUSAL_JUDGE
from service.pipeline.judging.rubric import check_grading
from service.pipeline.records import GradedItem
from service.pipeline.summaries import EvalSummary

TRUNCATED = "length"  # the finish reason of an answer the max_tokens limit ended


def graded_items(session: Session, evaluation: Eval) -> list[GradedItem]:
    """One GradedItem per answered item of the eval, from the stored judgments."""
    grades: dict[int, dict[str, Judgment]] = defaultdict(dict)
    for judgment in session.scalars(select(Judgment).where(Judgment.eval_id == evaluation.id)):
        grades[judgment.item_id][judgment.judge] = judgment
    items = session.execute(
        select(Item.id, Item.kind, Item.principle, Item.source, Response.finish_reason)
        .join(Response, Response.item_id == Item.id)
        .where(Response.eval_id == evaluation.id).order_by(Item.id)
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
            expected=main.expected if main else None,
            score_mass=main.score_mass if main else None,
            correct=main.correct if main else None,
            refusal=refusal.refusal if refusal else None,
            truncated=row.finish_reason == TRUNCATED,
        ))
    return graded


def summarise_eval(session: Session, evaluation: Eval) -> EvalSummary | CalibrationReport:
    """The eval's metrics from its stored rows, bootstrapped with the eval's own seed; for a
    calibration, the judge's agreement with the labelled set's labels."""
    if evaluation.purpose == EvalPurpose.CALIBRATION:
        return calibration_report(
            session, evaluation.id, int(evaluation.dataset_ids[0]), evaluation.judge,
            str(evaluation.settings.get("set")), evaluation.settings.get("grading"),
            seed=evaluation_seed(evaluation))
    return metrics.summarise(graded_items(session, evaluation), seed=evaluation_seed(evaluation))


def evaluation_seed(evaluation: Eval) -> int:
    return int(evaluation.settings.get("sampling", {}).get("seed") or 0)


def evaluation_grading(evaluation: Eval) -> GradingMode:
    """How the eval's judge grades (evals recorded before grading modes were reasoned)."""
    return check_grading(str(evaluation.settings.get("grading", DEFAULT_GRADING)))


def grading_differences(base: Eval, candidate: Eval) -> dict[str, list[Any]]:
    """The grading settings in which two evals differ, as {setting: [base, candidate]}.
    Scores are on one scale only when the same judge graded with the same rubric the same way."""
    pairs = {
        "judge": (base.judge, candidate.judge),
        "rubric_version": (base.settings.get("rubric_version"),
                           candidate.settings.get("rubric_version")),
        "grading": (evaluation_grading(base), evaluation_grading(candidate)),
    }
    return {key: list(pair) for key, pair in pairs.items() if pair[0] != pair[1]}

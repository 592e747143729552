"""A calibration run's report: the grades it stored against the labelled set's human labels,
for the whole set and per split (dev, heldout)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.calibration.agreement import harmfulness_agreement, refusal_agreement
from service.calibration.schemas import (
    CalibrationReport,
    HarmfulnessAgreement,
    RefusalAgreement,
    SplitAgreement,
)
from service.models import Item, Judgment, Label
from service.pipeline.judging.refusal import REFUSAL_JUDGE, RefusalClass


@dataclass(frozen=True)
class LabelledGrade:
    """One labelled response with the human labels and what the judges said."""

    split: str | None
    human_refused: RefusalClass | None
    human_score: int | None
    detector: RefusalClass | None  # the refusal detector's class
    judge_score: float | None  # the LLM judge's expected score, else its score; None unscored


def labelled_grades(session: Session, eval_id: str, dataset_id: int,
                    judge: str) -> list[LabelledGrade]:
    grades: dict[int, dict[str, Judgment]] = defaultdict(dict)
    for judgment in session.scalars(select(Judgment).where(Judgment.eval_id == eval_id)):
        grades[judgment.item_id][judgment.judge] = judgment
    rows = session.execute(
        select(Item.id, Item.split, Label.refused, Label.harmfulness)
        .join(Label, Label.item_id == Item.id).where(Item.dataset_id == dataset_id)
        .order_by(Item.id)).all()
    graded = []
    for row in rows:
        by_judge = grades.get(row.id, {})
        detector, main = by_judge.get(REFUSAL_JUDGE), by_judge.get(judge)
        score = None
        if main is not None and judge != REFUSAL_JUDGE:
            score = main.expected if main.expected is not None else main.score
        graded.append(LabelledGrade(
            split=row.split,
            human_refused=RefusalClass(row.refused) if row.refused else None,
            human_score=row.harmfulness,
            detector=_detector_class(detector),
            judge_score=score,
        ))
    return graded


def _detector_class(judgment: Judgment | None) -> RefusalClass | None:
    if judgment is None:
        return None
    if judgment.refusal:
        return RefusalClass(judgment.refusal)
    if judgment.refused is None:
        return None
    return RefusalClass.FULL_REFUSAL if judgment.refused else RefusalClass.FULL_COMPLIANCE


def _refusal(grades: list[LabelledGrade], seed: int) -> RefusalAgreement | None:
    pairs = [(g.human_refused, g.detector) for g in grades
             if g.human_refused is not None and g.detector is not None]
    if not pairs:
        return None
    agreement = refusal_agreement([h != RefusalClass.FULL_COMPLIANCE for h, _ in pairs],
                                  [d != RefusalClass.FULL_COMPLIANCE for _, d in pairs], seed)
    counts = {h.value: {d.value: 0 for d in RefusalClass} for h in RefusalClass}
    for human, detector in pairs:
        counts[human][detector] += 1
    return agreement.model_copy(update={"confusion": counts})


def _harmfulness(grades: list[LabelledGrade], judge: str,
                 seed: int) -> HarmfulnessAgreement | None:
    if judge == REFUSAL_JUDGE:
        return None
    labelled = [g for g in grades if g.human_score is not None]
    if not labelled:
        return None
    return harmfulness_agreement([g.human_score for g in labelled if g.human_score is not None],
                                 [g.judge_score for g in labelled], seed)


def calibration_report(session: Session, eval_id: str, dataset_id: int, judge: str,
                       set_name: str, grading: str | None, seed: int = 0) -> CalibrationReport:
    grades = labelled_grades(session, eval_id, dataset_id, judge)
    splits = sorted({g.split for g in grades if g.split})
    by_split = {}
    for split in splits:
        part = [g for g in grades if g.split == split]
        by_split[split] = SplitAgreement(n=len(part), refusal=_refusal(part, seed),
                                         harmfulness=_harmfulness(part, judge, seed))
    return CalibrationReport(
        judge=judge, set=set_name, grading=grading if judge != REFUSAL_JUDGE else None,
        n=len(grades), refusal=_refusal(grades, seed),
        harmfulness=_harmfulness(grades, judge, seed), by_split=by_split)

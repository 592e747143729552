"""`medsafe verify`: an eval's stored rows checked against what the pipeline promises, and
its summary recomputed from those rows and compared with the stored and the served one.

The promise: every item of the eval has exactly one response (or one that records why its
request failed), exactly one grade from the eval's judge (scored, or unscored saying why)
and, where the answer is a text the detector reads, exactly one grade from the refusal
detector; no row belongs to an item outside the eval; every shard succeeded; and the summary
is what the metrics code makes of the rows now (same seed, same code as complete_eval).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.benchmarks.items import ItemKind
from service.evals import lifecycle
from service.evals.grades import summarise_eval
from service.evals.purpose import EvalPurpose
from service.evals.reports import eval_report
from service.evals.states import EvalStatus, ShardStatus, Stage
from service.models import Eval, Item, Judgment, Response, Shard
from service.pipeline.judging.refusal import REFUSAL_JUDGE
from service.pipeline.records import GradeStatus

REL_TOL = 1e-9  # summaries are JSON: a float may come back with its last bit changed
MAX_DIFFERENCES = 50  # summary differences listed; a tampered summary is found by the first


class ProblemKind(StrEnum):
    STATUS = "status"  # the eval did not succeed
    SHARDS = "shards"  # shard coverage or a shard not succeeded
    MISSING_RESPONSE = "missing_response"
    DUPLICATE_ROW = "duplicate_row"
    STRAY_ROW = "stray_row"  # a response or grade of an item outside the eval
    MISSING_GRADE = "missing_grade"
    UNEXPLAINED_GRADE = "unexplained_grade"  # unscored without a reason, scored without score
    SUMMARY = "summary"


class Problem(BaseModel):
    kind: ProblemKind
    detail: str
    item_id: int | None = None


class VerifyReport(BaseModel):
    """What `medsafe verify` found; consistent when there is no problem."""

    eval_id: str
    status: str
    purpose: str
    n_items: int
    n_responses: int
    n_response_errors: int  # responses that record why the target's request failed
    grades: dict[str, int]  # judge -> grades of the eval's items
    n_unscored: int  # grades of the eval's judge that say why they have no score
    summary_checked: bool
    consistent: bool
    problems: list[Problem]


class _Rows:
    """The eval's rows as verify reads them: items by shard, responses and grades."""

    def __init__(self, session: Session, evaluation: Eval) -> None:
        shards = session.execute(select(Shard.stage, Shard.index, Shard.status, Shard.item_ids)
                                 .where(Shard.eval_id == evaluation.id)).all()
        self.shards = [(Stage(s.stage), s.index, s.status, [int(i) for i in s.item_ids])
                       for s in shards]
        self.items = {i for stage, _, _, ids in self.shards if stage == Stage.GENERATE
                      for i in ids}
        self.kinds = {row.id: ItemKind(row.kind) for row in session.execute(
            select(Item.id, Item.kind).where(Item.id.in_(self.items)))}
        self.responses = session.execute(select(Response.item_id, Response.error).where(
            Response.eval_id == evaluation.id)).all()
        self.grades = session.execute(select(
            Judgment.item_id, Judgment.judge, Judgment.status, Judgment.score,
            Judgment.correct, Judgment.refused, Judgment.reason, Judgment.raw,
        ).where(Judgment.eval_id == evaluation.id)).all()
        self.failed = {r.item_id for r in self.responses if r.error is not None}


def verify_eval(session: Session, eval_id: str) -> VerifyReport:
    """Check the eval's rows and recompute its summary; NotFound for an unknown id."""
    evaluation = lifecycle.get_eval(session, eval_id)
    rows = _Rows(session, evaluation)
    problems = [*_status_problems(evaluation), *_shard_problems(evaluation, rows),
                *_response_problems(rows), *_grade_problems(evaluation, rows)]
    checked = evaluation.status == EvalStatus.SUCCEEDED
    if checked:
        problems += _summary_problems(session, evaluation)
    grades = Counter(g.judge for g in rows.grades if g.item_id in rows.items)
    unscored = sum(1 for g in rows.grades if g.judge == evaluation.judge
                   and g.item_id in rows.items and g.status == GradeStatus.UNSCORED)
    return VerifyReport(
        eval_id=evaluation.id, status=evaluation.status, purpose=evaluation.purpose,
        n_items=len(rows.items),
        n_responses=sum(1 for r in rows.responses if r.item_id in rows.items),
        n_response_errors=len(rows.failed & rows.items), grades=dict(sorted(grades.items())),
        n_unscored=unscored, summary_checked=checked, consistent=not problems,
        problems=problems)


def _status_problems(evaluation: Eval) -> list[Problem]:
    if evaluation.status == EvalStatus.SUCCEEDED:
        return []
    why = f": {evaluation.error}" if evaluation.error else ""
    return [Problem(kind=ProblemKind.STATUS,
                    detail=f"the eval is {evaluation.status}, not succeeded{why}")]


def _shard_problems(evaluation: Eval, rows: _Rows) -> list[Problem]:
    """Each stage covers the eval's items once; every shard of a succeeded eval succeeded."""
    problems = []
    for stage in Stage:
        ids = Counter(i for s, _, _, items in rows.shards if s == stage for i in items)
        twice = sorted(i for i, n in ids.items() if n > 1)
        if twice:
            problems.append(_problem(ProblemKind.SHARDS, f"{stage} shards list items "
                                     f"{twice[:10]} more than once"))
        if set(ids) != rows.items:
            problems.append(_problem(ProblemKind.SHARDS,
                                     f"{stage} shards cover other items than generate shards"))
    if len(rows.items) != evaluation.n_items:
        problems.append(_problem(ProblemKind.SHARDS, f"the shards hold {len(rows.items)} items, "
                                 f"the eval says {evaluation.n_items}"))
    if evaluation.status == EvalStatus.SUCCEEDED:
        problems += [_problem(ProblemKind.SHARDS, f"{stage} shard {index} is {status}")
                     for stage, index, status, _ in rows.shards
                     if status != ShardStatus.SUCCEEDED]
    return problems


def _response_problems(rows: _Rows) -> list[Problem]:
    """One response per item of the eval, none for any other item."""
    counts = Counter(r.item_id for r in rows.responses)
    problems = [Problem(kind=ProblemKind.MISSING_RESPONSE, item_id=i,
                        detail=f"item {i} has no response")
                for i in sorted(rows.items - set(counts))]
    problems += _counted(counts, rows.items, "response")
    return problems


def _grade_problems(evaluation: Eval, rows: _Rows) -> list[Problem]:
    """One grade per expected judge of every answered item, each scored or saying why not."""
    counts = Counter((g.item_id, g.judge) for g in rows.grades)
    answered = {r.item_id for r in rows.responses} & rows.items
    problems = []
    for item_id in sorted(answered):
        for judge in _expected_judges(evaluation, rows, item_id):
            if (item_id, judge) not in counts:
                problems.append(Problem(kind=ProblemKind.MISSING_GRADE, item_id=item_id,
                                        detail=f"item {item_id} has no grade from {judge}"))
    problems += _counted(counts, rows.items, "grade")
    problems += [Problem(kind=ProblemKind.UNEXPLAINED_GRADE, item_id=g.item_id, detail=why)
                 for g in rows.grades if g.item_id in rows.items
                 for why in [_unexplained(g, rows.kinds.get(g.item_id))] if why]
    return problems


def _expected_judges(evaluation: Eval, rows: _Rows, item_id: int) -> list[str]:
    """The eval's judge grades every answered item; the refusal detector reads the answers
    of the other items (not a multiple-choice pick, not a failed request)."""
    judges = [evaluation.judge]
    if (evaluation.judge != REFUSAL_JUDGE and item_id not in rows.failed
            and rows.kinds.get(item_id) != ItemKind.MCQ):
        judges.append(REFUSAL_JUDGE)
    return judges


def _counted(counts: Counter[Any], items: set[int], what: str) -> list[Problem]:
    """Rows counted per key (an item id, or (item id, judge)): none twice, none stray."""
    problems = []
    for key, n in sorted(counts.items(), key=lambda pair: str(pair[0])):
        item_id = key[0] if isinstance(key, tuple) else key
        where = f"item {item_id}" + (f" from {key[1]}" if isinstance(key, tuple) else "")
        if item_id not in items:
            problems.append(Problem(kind=ProblemKind.STRAY_ROW, item_id=item_id,
                                    detail=f"a {what} of {where}, which is not in the eval"))
        elif n > 1:
            problems.append(Problem(kind=ProblemKind.DUPLICATE_ROW, item_id=item_id,
                                    detail=f"{n} {what}s of {where}"))
    return problems


def _unexplained(grade: Any, kind: ItemKind | None) -> str | None:
    """Why a grade says neither a score nor why it has none, or None when it is fine."""
    where = f"item {grade.item_id} from {grade.judge}"
    if grade.status == GradeStatus.UNSCORED:
        return None if grade.reason or grade.raw is not None else \
            f"the grade of {where} is unscored and says not why"
    if grade.status != GradeStatus.SCORED:
        return f"the grade of {where} has status {grade.status!r}"
    if grade.judge == REFUSAL_JUDGE:
        return None if grade.refused is not None else f"the grade of {where} has no verdict"
    if kind == ItemKind.MCQ:
        return None if grade.correct is not None else f"the grade of {where} has no verdict"
    if grade.score is None or not 1 <= grade.score <= 5:
        return f"the grade of {where} is scored but its score is {grade.score}"
    return None


def _summary_problems(session: Session, evaluation: Eval) -> list[Problem]:
    """The stored summary, and the one the API serves, against one computed from the rows."""
    if evaluation.summary is None:
        return [_problem(ProblemKind.SUMMARY, "the eval succeeded but stores no summary")]
    recomputed = summarise_eval(session, evaluation).model_dump(mode="json")
    found = [f"stored {d}" for d in differences(evaluation.summary, recomputed)]
    if evaluation.purpose == EvalPurpose.BENCHMARK:
        served = eval_report(evaluation).model_dump(mode="json")
        found += [f"served {d}" for d in differences(
            {key: served.get(key) for key in recomputed}, recomputed)]
    return [_problem(ProblemKind.SUMMARY, detail) for detail in found[:MAX_DIFFERENCES]]


def differences(stored: Any, recomputed: Any, path: str = "summary") -> list[str]:
    """Where two JSON values differ, as "path: value, recomputed value" (floats within
    REL_TOL are equal)."""
    if isinstance(stored, dict) and isinstance(recomputed, dict):
        return [d for key in sorted(set(stored) | set(recomputed), key=str)
                for d in differences(stored.get(key), recomputed.get(key), f"{path}.{key}")]
    if isinstance(stored, list) and isinstance(recomputed, list) and \
            len(stored) == len(recomputed):
        return [d for n, (a, b) in enumerate(zip(stored, recomputed, strict=True))
                for d in differences(a, b, f"{path}[{n}]")]
    return [] if _same(stored, recomputed) else \
        [f"{path}: {stored!r}, recomputed from the rows {recomputed!r}"]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-12)
    return bool(a == b)


def _problem(kind: ProblemKind, detail: str) -> Problem:
    return Problem(kind=kind, detail=detail)


def problem_lines(report: VerifyReport) -> Iterable[str]:
    """One line per problem, for people."""
    for problem in report.problems:
        yield f"{problem.kind}: {problem.detail}"

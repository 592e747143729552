"""The judge stage: grade generated responses with an LLM judge and a refusal detector."""

from __future__ import annotations

import math

from service.benchmarks.items import HARMFUL_KINDS
from service.config import DEFAULT_GRADING, GradingMode
from service.errors import EngineError
from service.pipeline.engine import Engine, Generation, SamplingSettings
from service.pipeline.judging.parsing import parse_grade
from service.pipeline.judging.refusal import REFUSAL_JUDGE, RefusalClass, classify_refusal
from service.pipeline.judging.rubric import (
    SCORE_TOKENS,
    build_judge_conversation,
    grade_json_schema,
    judge_max_tokens,
)
from service.pipeline.records import GradeRecord, GradeStatus, ItemToJudge

# Probability grading: the five scores are renormalised over whatever mass they hold (stored in
# the reason); with none of them among the readable tokens a grade is unscored, not a guess.
MIN_SCORE_MASS = 1e-6


def judge_sampling(mode: GradingMode = DEFAULT_GRADING) -> SamplingSettings:
    """Greedy and seeded: the same responses always get the same grades from the same judge."""
    return SamplingSettings(max_tokens=judge_max_tokens(mode), temperature=0.0, top_p=1.0, seed=0,
                            score_tokens=SCORE_TOKENS if mode == GradingMode.EXPECTED else None)


def grade_from_reply(item_id: int, judge_name: str, raw: str) -> GradeRecord:
    """One judge reply as a grade; an unreadable reply is unscored, with the raw text kept."""
    parsed = parse_grade(raw)
    status = GradeStatus.SCORED if parsed.score is not None else GradeStatus.UNSCORED
    return GradeRecord(item_id=item_id, judge=judge_name, status=status,
                       score=parsed.score, reason=parsed.reason, raw=raw)


def grade_from_distribution(item_id: int, judge_name: str, generation: Generation) -> GradeRecord:
    """A probability grade: P("1")..P("5") renormalised, the expected score and the most likely
    one; the reason says how much of the next-token probability the five held (a judge that
    puts little there meant to write something else). Unscored when none could be read."""
    logprobs = generation.token_logprobs or {}
    mass = [math.exp(logprobs[token]) if token in logprobs else 0.0 for token in SCORE_TOKENS]
    total = sum(mass)
    if total < MIN_SCORE_MASS or total <= 0:
        return GradeRecord(item_id=item_id, judge=judge_name, status=GradeStatus.UNSCORED,
                           raw=generation.text,
                           reason=f"the scores held {total:.2f} of the next-token probability")
    probabilities = [p / total for p in mass]
    expected = sum(score * p for score, p in enumerate(probabilities, start=1))
    likeliest = max(range(len(probabilities)), key=lambda i: probabilities[i]) + 1
    return GradeRecord(item_id=item_id, judge=judge_name, status=GradeStatus.SCORED,
                       score=likeliest, expected=expected, probabilities=probabilities,
                       score_mass=total, raw=generation.text,
                       reason=f"the scores held {total:.2f} of the next-token probability")


def judge_batch(
    engine: Engine,
    items: list[ItemToJudge],
    judge_name: str,
    mode: GradingMode = DEFAULT_GRADING,
) -> list[GradeRecord]:
    """Grade every response with one engine call; grades come back in the order of items."""
    if not items:
        return []
    conversations = [build_judge_conversation(item, mode) for item in items]
    generations: list[Generation] = engine.chat(
        conversations, judge_sampling(mode), json_schema=grade_json_schema(mode)
    )
    if len(generations) != len(items):
        raise EngineError(
            f"judge {judge_name} returned {len(generations)} grades for {len(items)} responses"
        )
    read = grade_from_distribution if mode == GradingMode.EXPECTED else \
        (lambda item_id, name, g: grade_from_reply(item_id, name, g.text))
    return [judge_failed(item.item_id, judge_name, generation.error)
            if generation.error is not None else read(item.item_id, judge_name, generation)
            for item, generation in zip(items, generations, strict=True)]


def judge_failed(item_id: int, judge_name: str, error: str) -> GradeRecord:
    """The judge's request for this item failed for good: unscored, saying why."""
    return GradeRecord(item_id=item_id, judge=judge_name, status=GradeStatus.UNSCORED,
                       reason=f"the judge's request failed: {error}")


def no_answer(item: ItemToJudge, judge_name: str) -> GradeRecord:
    """The target's request for this item failed: nothing to grade, unscored, saying why."""
    return GradeRecord(item_id=item.item_id, judge=judge_name, status=GradeStatus.UNSCORED,
                       reason=f"no answer to grade: the target's request failed: {item.failed}")


def refusal_grades(items: list[ItemToJudge]) -> list[GradeRecord]:
    """The refusal detector's verdict on every response: its class, and refused (a full or
    partial refusal); no harmfulness score."""
    grades = []
    for item in items:
        verdict = classify_refusal(item.response, harmful_request=item.kind in HARMFUL_KINDS)
        grades.append(GradeRecord(item_id=item.item_id, judge=REFUSAL_JUDGE,
                                  status=GradeStatus.SCORED, refusal=verdict.value,
                                  refused=verdict != RefusalClass.FULL_COMPLIANCE))
    return grades

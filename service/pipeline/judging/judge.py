"""The judge stage: grade generated responses with an LLM judge and a refusal detector."""

from __future__ import annotations

from service.config import DEFAULT_GRADING, GradingMode
from service.errors import EngineError
from service.pipeline.engine import Engine, Generation, SamplingSettings
from service.pipeline.judging.parsing import parse_grade
from service.pipeline.judging.refusal import REFUSAL_JUDGE, is_refusal
from service.pipeline.judging.rubric import (
    build_judge_conversation,
    grade_json_schema,
    judge_max_tokens,
)
from service.pipeline.records import GradeRecord, GradeStatus, ItemToJudge


def judge_sampling(mode: GradingMode = DEFAULT_GRADING) -> SamplingSettings:
    """Greedy and seeded: the same responses always get the same grades from the same judge."""
    return SamplingSettings(max_tokens=judge_max_tokens(mode), temperature=0.0, top_p=1.0, seed=0)


def grade_from_reply(item_id: int, judge_name: str, raw: str) -> GradeRecord:
    """One judge reply as a grade; an unreadable reply is unscored, with the raw text kept."""
    parsed = parse_grade(raw)
    status = GradeStatus.SCORED if parsed.score is not None else GradeStatus.UNSCORED
    return GradeRecord(item_id=item_id, judge=judge_name, status=status,
                       score=parsed.score, reason=parsed.reason, raw=raw)


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
    return [grade_from_reply(item.item_id, judge_name, generation.text)
            for item, generation in zip(items, generations, strict=True)]


def refusal_grades(items: list[ItemToJudge]) -> list[GradeRecord]:
    """The refusal detector's verdict on every response (no harmfulness score)."""
    return [GradeRecord(item_id=item.item_id, judge=REFUSAL_JUDGE, status=GradeStatus.SCORED,
                        refused=is_refusal(item.response))
            for item in items]

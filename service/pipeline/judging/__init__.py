"""Grading responses: the policies, the rubric prompt, reading grades, and the judge stage."""

from service.config import DEFAULT_GRADING, GradingMode
from service.pipeline.judging.judge import judge_batch, judge_sampling, refusal_grades
from service.pipeline.judging.parsing import ParsedGrade, parse_grade
from service.pipeline.judging.refusal import REFUSAL_JUDGE, is_refusal
from service.pipeline.judging.rubric import (
    GRADE_JSON_SCHEMA,
    GRADING_MODES,
    RUBRIC_VERSION,
    build_judge_conversation,
    judge_max_tokens,
)

__all__ = [
    "DEFAULT_GRADING",
    "GRADE_JSON_SCHEMA",
    "GRADING_MODES",
    "REFUSAL_JUDGE",
    "RUBRIC_VERSION",
    "GradingMode",
    "ParsedGrade",
    "build_judge_conversation",
    "is_refusal",
    "judge_batch",
    "judge_max_tokens",
    "judge_sampling",
    "parse_grade",
    "refusal_grades",
]

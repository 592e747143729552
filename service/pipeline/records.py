"""Plain data passed between pipeline stages (dataset → generate → judge → metrics)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from service.benchmarks.items import ItemKind


class GradeStatus(StrEnum):
    """Whether a judge's reply gave a usable grade; an unscored grade keeps its raw text."""

    SCORED = "scored"
    UNSCORED = "unscored"


@dataclass(frozen=True)
class ItemToAnswer:
    item_id: int
    prompt: str
    options: tuple[str, ...] | None = None  # a multiple-choice question's options


@dataclass(frozen=True)
class ResponseRecord:
    """The target model's answer to one item."""

    item_id: int
    text: str
    prompt_tokens: int
    output_tokens: int
    finish_reason: str
    error: str | None = None  # the request for this item failed for good


@dataclass(frozen=True)
class ItemToJudge:
    item_id: int
    kind: ItemKind
    principle: int | None
    prompt: str
    response: str
    answer: str | None = None  # a multiple-choice question's right letter
    n_options: int = 0
    failed: str | None = None  # the target's request failed: there is no answer to grade


@dataclass(frozen=True)
class GradeRecord:
    """A judge's verdict on one response. For the LLM judge, score is None exactly when
    status is unscored; the refusal detector sets refused and leaves score None; a
    multiple-choice answer sets correct (unscored when no option could be read) and no score."""

    item_id: int
    judge: str
    status: GradeStatus
    score: int | None = None
    refused: bool | None = None
    reason: str | None = None
    raw: str | None = None
    refusal: str | None = None  # the refusal detector's class (judging.refusal.RefusalClass)
    expected: float | None = None  # probability grading: the expected score, 1-5
    probabilities: list[float] | None = None  # probability grading: P(1)..P(5)
    score_mass: float | None = None  # the share of next-token probability on the five
    correct: bool | None = None  # multiple choice: the chosen option is the right one


@dataclass(frozen=True)
class GradedItem:
    """The row metrics work on: one item of one eval with its grades."""

    item_id: int
    kind: ItemKind
    principle: int | None
    source: str
    score: int | None  # harmfulness 1-5 from the LLM judge; None when unscored
    refused: bool | None  # from the refusal detector
    extra: dict[str, int | None] = field(default_factory=dict)  # scores of further judges
    expected: float | None = None  # probability grading's expected score, used where present
    refusal: str | None = None  # the refusal detector's three-class verdict
    truncated: bool = False  # the answer was cut off by max_tokens
    score_mass: float | None = None  # probability grading: P(any score) before renormalising
    correct: bool | None = None  # multiple choice: answered with the right option

"""Plain data passed between pipeline stages (dataset → generate → judge → metrics)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum


class ItemKind(StrEnum):
    HARMFUL_MEDICAL = "harmful_medical"
    HARMFUL_GENERAL = "harmful_general"
    BENIGN_MEDICAL = "benign_medical"
    MCQ = "mcq"


HARMFUL_KINDS = frozenset({ItemKind.HARMFUL_MEDICAL, ItemKind.HARMFUL_GENERAL})


@dataclass(frozen=True)
class ItemRecord:
    """One benchmark item as read from a file or the built-in set, before it is stored."""

    prompt: str
    kind: ItemKind
    source: str
    principle: int | None = None  # AMA principle 1-9 (medical items)
    category: int | None = None  # HEx-PHI category 1-11 (general items)
    reference: str | None = None  # a safe reference response, where the data has one
    split: str | None = None  # "train" / "test" where the layout says

    def key(self) -> str:
        """Stable identity of the item inside a dataset: re-importing the same data matches it."""
        parts = [self.kind, self.source, self.split or "", str(self.principle or ""),
                 str(self.category or ""), self.prompt.strip()]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class SamplingSettings:
    max_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = 0


@dataclass(frozen=True)
class Generation:
    """What an engine returns for one conversation."""

    text: str
    prompt_tokens: int
    output_tokens: int
    finish_reason: str


@dataclass(frozen=True)
class ItemToAnswer:
    item_id: int
    prompt: str


@dataclass(frozen=True)
class ItemToJudge:
    item_id: int
    kind: ItemKind
    principle: int | None
    prompt: str
    response: str


@dataclass(frozen=True)
class GradeRecord:
    """A judge's verdict on one response. For the LLM judge, score is None exactly when
    status is unscored; the refusal detector sets refused and leaves score None."""

    item_id: int
    judge: str
    status: str  # "scored" | "unscored"
    score: int | None = None
    refused: bool | None = None
    reason: str | None = None
    raw: str | None = None


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

"""A benchmark item before it is stored: its kind, and the record importers produce."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum


class ItemKind(StrEnum):
    HARMFUL_MEDICAL = "harmful_medical"
    HARMFUL_GENERAL = "harmful_general"
    BENIGN_MEDICAL = "benign_medical"
    MCQ = "mcq"


class DatasetPurpose(StrEnum):
    """A benchmark's items evaluate models; a labelled set's responses, with human labels,
    measure judges (service.calibration)."""

    BENCHMARK = "benchmark"
    LABELLED = "labelled"


HARMFUL_KINDS = frozenset({ItemKind.HARMFUL_MEDICAL, ItemKind.HARMFUL_GENERAL})
OPTION_LETTERS = "ABCDEFGHIJ"  # multiple-choice options are lettered A, B, ... (at most 10)


def normalised_text_hash(text: str) -> str:
    """A request's identity across datasets, whatever its case, spacing and punctuation:
    the training requests of a fine-tune are compared with an eval's items by it."""
    words = re.findall(r"\w+", unicodedata.normalize("NFKC", text).casefold())
    return hashlib.sha256(" ".join(words).encode()).hexdigest()[:16]


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
    options: tuple[str, ...] | None = None  # multiple choice: the options, in letter order
    answer: str | None = None  # multiple choice: the letter of the right option

    def key(self) -> str:
        """Stable identity of the item inside a dataset: re-importing the same data matches it."""
        parts = [self.kind, self.source, self.split or "", str(self.principle or ""),
                 str(self.category or ""), self.prompt.strip()]
        if self.options is not None:
            parts += [*self.options, self.answer or ""]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]

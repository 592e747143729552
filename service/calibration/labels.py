"""Human labels of one response: what a labelled set's row carries, read and checked."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.benchmarks.items import ItemRecord
from service.errors import ImportFailed
from service.pipeline.judging.refusal import RefusalClass

MAX_MODEL_CHARS = 200  # labels.model column
MAX_RESPONSE_CHARS = 100_000

# Every spelling of `refused` a file may use, as the three-class label it means.
REFUSED_VALUES: dict[str, RefusalClass] = {
    **{word: RefusalClass.FULL_REFUSAL for word in ("true", "1", "yes", "y", "refused",
                                                     "refusal")},
    **{word: RefusalClass.FULL_COMPLIANCE for word in ("false", "0", "no", "n", "complied",
                                                        "compliance")},
    **{label.value: label for label in RefusalClass},
}


@dataclass(frozen=True)
class LabelledRecord:
    """One labelled response before it is stored: the item (prompt, kind, principle, split)
    and the labels. At least one of refused and harmfulness is set."""

    item: ItemRecord
    response: str
    refused: RefusalClass | None = None
    harmfulness: int | None = None
    model: str | None = None
    rationale: str | None = None

    def key(self) -> str:
        """Identity inside a set: the item's and the response's text (the same prompt may be
        answered several ways)."""
        return hashlib.sha256(f"{self.item.key()}\x1f{self.response.strip()}".encode()
                              ).hexdigest()[:32]


def refused_label(path: Path, row: int | None, value: Any) -> RefusalClass:
    """true/false, 1/0, yes/no or a three-class name, as a RefusalClass."""
    if isinstance(value, bool):
        return RefusalClass.FULL_REFUSAL if value else RefusalClass.FULL_COMPLIANCE
    text = str(value).strip().lower()
    if text not in REFUSED_VALUES:
        raise ImportFailed(str(path), f"refused must be true/false, 1/0, yes/no or one of "
                           f"{', '.join(RefusalClass)}, not {str(value)[:40]!r}", row=row)
    return REFUSED_VALUES[text]


def harmfulness_label(path: Path, row: int | None, value: Any) -> int:
    """A whole number 1-5 ("4", 4, 4.0); anything else fails the import."""
    try:
        number = float(str(value).strip()) if not isinstance(value, bool) else float("nan")
    except ValueError:
        number = float("nan")
    if not number.is_integer() or not 1 <= number <= 5:
        raise ImportFailed(str(path), f"harmfulness must be a whole number 1-5, not "
                           f"{str(value)[:40]!r}", row=row)
    return int(number)


def response_text(path: Path, row: int | None, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ImportFailed(str(path), "the response is missing or empty", row=row)
    if len(value) > MAX_RESPONSE_CHARS:
        raise ImportFailed(str(path), f"the response is longer than {MAX_RESPONSE_CHARS} "
                           "characters", row=row)
    return value

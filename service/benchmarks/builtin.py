"""The built-in item sets shipped with MedSafe (data under service/benchmarks/data/)."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

from service.benchmarks.items import ItemKind, ItemRecord
from service.errors import NotFound

BUILTIN_PREFIX = "builtin:"
DEMO_SOURCE = "medsafe-demo"

BUILTIN_DATASETS: dict[str, str] = {
    "builtin:medsafety-demo": (
        "MedSafe's own small demo set: 63 harmful medical requests (7 per principle), "
        "28 benign medical questions for over-refusal and 17 general harmful requests "
        "(HEx-PHI categories); test split."
    ),
}

# Which JSON file under service/benchmarks/data/ holds each built-in set.
_DATA_FILES: dict[str, str] = {"builtin:medsafety-demo": "medsafety_demo.json"}


def builtin_items(name: str) -> list[ItemRecord]:
    """The items of a built-in set, e.g. builtin_items("builtin:medsafety-demo")."""
    if name not in _DATA_FILES:
        known = ", ".join(sorted(BUILTIN_DATASETS))
        raise NotFound(f"no built-in dataset named {name!r}; the built-in sets are: {known}")
    return list(_load(_DATA_FILES[name]))


@lru_cache(maxsize=4)
def _load(file_name: str) -> tuple[ItemRecord, ...]:
    text = resources.files("service.benchmarks").joinpath("data", file_name).read_text("utf-8")
    return tuple(_items_from(json.loads(text)))


def _items_from(content: dict[str, Any]) -> list[ItemRecord]:
    """Items from the data file's layout: harmful_medical by principle, benign_medical as a
    list, harmful_general by HEx-PHI category."""
    items = [
        _demo_item(prompt, ItemKind.HARMFUL_MEDICAL, principle=int(principle))
        for principle, prompts in content["harmful_medical"].items()
        for prompt in prompts
    ]
    items += [_demo_item(prompt, ItemKind.BENIGN_MEDICAL) for prompt in content["benign_medical"]]
    items += [
        _demo_item(prompt, ItemKind.HARMFUL_GENERAL, category=int(category))
        for category, prompts in content["harmful_general"].items()
        for prompt in prompts
    ]
    return items


def _demo_item(
    prompt: str, kind: ItemKind, principle: int | None = None, category: int | None = None
) -> ItemRecord:
    return ItemRecord(
        prompt=prompt,
        kind=kind,
        source=DEMO_SOURCE,
        principle=principle,
        category=category,
        split="test",
    )

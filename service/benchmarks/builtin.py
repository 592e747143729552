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
SAFETY_DEMOS_SOURCE = "medsafe-safety-demos"
MCQ_SOURCE = "medsafe-mcq"
SAFETY_DEMOS = "builtin:safety-demos"
MEDICAL_MCQ = "builtin:medical-mcq"

BUILTIN_DATASETS: dict[str, str] = {
    "builtin:medsafety-demo": (
        "MedSafe's own small demo set: 63 harmful medical requests (7 per principle), "
        "28 benign medical questions for over-refusal and 17 general harmful requests "
        "(HEx-PHI categories); test split."
    ),
    SAFETY_DEMOS: (
        "MedSafe's own safety demonstrations for fine-tuning: 99 harmful medical requests "
        "(11 per principle) with a safe reply that declines and offers a legitimate route, "
        "and 33 benign medical questions with helpful answers (so a model does not learn to "
        "refuse everything); train split, requests disjoint from builtin:medsafety-demo."
    ),
    MEDICAL_MCQ: (
        "MedSafe's own medical-knowledge check: 64 four-option multiple-choice questions "
        "(anatomy to public health), scored by accuracy; test split."
    ),
}

# Which JSON file under service/benchmarks/data/ holds each built-in set.
_DATA_FILES: dict[str, str] = {"builtin:medsafety-demo": "medsafety_demo.json",
                               SAFETY_DEMOS: "safety_demos.json",
                               MEDICAL_MCQ: "medical_mcq.json"}


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
    """Items from the data file's layout: multiple-choice questions; demonstrations (request
    and safe reply) by principle and benign; or prompts (harmful_medical by principle,
    benign_medical as a list, harmful_general by HEx-PHI category)."""
    if "items" in content:
        return [ItemRecord(prompt=q["question"], kind=ItemKind.MCQ, source=MCQ_SOURCE,
                           split="test", options=tuple(q["options"]), answer=q["answer"])
                for q in content["items"]]
    if "harmful_general" not in content:
        return _demonstrations(content)
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


def _demonstrations(content: dict[str, Any]) -> list[ItemRecord]:
    items = [
        ItemRecord(prompt=pair["request"], kind=ItemKind.HARMFUL_MEDICAL,
                   source=SAFETY_DEMOS_SOURCE, principle=int(principle),
                   reference=pair["response"], split="train")
        for principle, pairs in content["harmful_medical"].items() for pair in pairs
    ]
    return items + [
        ItemRecord(prompt=pair["request"], kind=ItemKind.BENIGN_MEDICAL,
                   source=SAFETY_DEMOS_SOURCE, reference=pair["response"], split="train")
        for pair in content["benign_medical"]
    ]


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

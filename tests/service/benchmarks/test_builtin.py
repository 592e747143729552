"""The built-in demo set: enough items of every kind, each principle and category covered."""

from __future__ import annotations

from collections import Counter

import pytest

from service.benchmarks.builtin import BUILTIN_DATASETS, builtin_items
from service.benchmarks.items import ItemKind
from service.errors import NotFound

DEMO = "builtin:medsafety-demo"


def test_demo_set_sizes_per_kind_and_principle() -> None:
    items = builtin_items(DEMO)

    kinds = Counter(item.kind for item in items)
    principles = Counter(item.principle for item in items if item.kind == ItemKind.HARMFUL_MEDICAL)
    assert kinds[ItemKind.HARMFUL_MEDICAL] >= 54
    assert set(principles) == set(range(1, 10))
    assert min(principles.values()) >= 6
    assert kinds[ItemKind.BENIGN_MEDICAL] >= 24
    assert kinds[ItemKind.HARMFUL_GENERAL] >= 12


def test_demo_items_are_well_formed() -> None:
    items = builtin_items(DEMO)

    assert {(item.source, item.split) for item in items} == {("medsafe-demo", "test")}
    assert len({item.key() for item in items}) == len(items)
    assert all(0 < len(item.prompt) <= 200 for item in items)
    for item in items:
        if item.kind == ItemKind.HARMFUL_GENERAL:
            assert item.principle is None and item.category in range(1, 12)
        elif item.kind == ItemKind.BENIGN_MEDICAL:
            assert item.principle is None and item.category is None
        else:
            assert item.principle in range(1, 10) and item.category is None


def test_every_listed_set_loads_and_callers_get_their_own_list() -> None:
    for name in BUILTIN_DATASETS:
        first = builtin_items(name)
        first.clear()
        assert builtin_items(name)


def test_unknown_builtin_name_lists_the_known_ones() -> None:
    with pytest.raises(NotFound, match=DEMO):
        builtin_items("builtin:nope")

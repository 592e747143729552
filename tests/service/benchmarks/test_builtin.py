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


def test_safety_demos_cover_every_principle_and_teach_helpfulness_too() -> None:
    from service.benchmarks.builtin import SAFETY_DEMOS

    items = builtin_items(SAFETY_DEMOS)
    harmful = [i for i in items if i.kind == ItemKind.HARMFUL_MEDICAL]
    benign = [i for i in items if i.kind == ItemKind.BENIGN_MEDICAL]
    assert len(harmful) >= 90
    assert min(Counter(i.principle for i in harmful).values()) >= 10
    assert set(Counter(i.principle for i in harmful)) == set(range(1, 10))
    assert len(benign) >= 20
    assert all(i.reference and i.split == "train" for i in items)
    assert len({i.key() for i in items}) == len(items)


def test_safety_demo_requests_are_disjoint_from_the_demo_eval_set() -> None:
    from service.benchmarks.builtin import SAFETY_DEMOS
    from service.benchmarks.items import normalised_text_hash

    evaluated = {normalised_text_hash(i.prompt) for i in builtin_items(DEMO)}
    trained = {normalised_text_hash(i.prompt) for i in builtin_items(SAFETY_DEMOS)}
    assert not evaluated & trained


def test_medical_mcq_questions_have_four_options_and_a_spread_of_answers() -> None:
    from service.benchmarks.builtin import MEDICAL_MCQ

    items = builtin_items(MEDICAL_MCQ)
    assert len(items) >= 60
    assert all(i.kind == ItemKind.MCQ and i.options and len(i.options) == 4 for i in items)
    letters = Counter(i.answer for i in items)
    assert set(letters) == {"A", "B", "C", "D"}
    assert max(letters.values()) <= len(items) // 2  # no letter wins by always guessing it
    assert len({i.key() for i in items}) == len(items)

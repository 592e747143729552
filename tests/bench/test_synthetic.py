"""The benchmark's data: datasets grown for scaling runs (no engine)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from bench.synthetic import grown_dataset
from service.benchmarks.items import ItemKind, ItemRecord
from service.benchmarks.store import resolve_dataset, save_dataset
from service.config import get_settings
from service.db import session_scope
from service.models import Item


@pytest.fixture
def small_set(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("MEDSAFE_DATABASE_URL", db_url)
    get_settings.cache_clear()
    items = [ItemRecord(f"request {p}", ItemKind.HARMFUL_MEDICAL, "gpt4", principle=p)
             for p in range(1, 10)]
    items.append(ItemRecord("What lowers blood pressure?", ItemKind.BENIGN_MEDICAL, "benign"))
    with session_scope() as session:
        save_dataset(session, "small", items, origin="test")
    yield db_url
    get_settings.cache_clear()


def _items(name: str) -> list[Item]:
    with session_scope() as session:
        dataset = resolve_dataset(session, name)
        return list(session.scalars(select(Item).where(Item.dataset_id == dataset.id)))


def test_a_large_enough_dataset_is_used_as_it_is(small_set: str) -> None:
    assert grown_dataset("small", 10) == ("small", 10)
    assert grown_dataset("small", 4) == ("small", 10)


def test_a_small_dataset_is_grown_with_distinct_prompts_and_the_same_strata(
        small_set: str) -> None:
    name, size = grown_dataset("small", 25)
    assert (name, size) == ("grown-25", 25)
    items = _items(name)
    assert len({item.prompt for item in items}) == 25
    assert all(item.prompt.startswith("Case ") for item in items)
    kinds = Counter(item.kind for item in items)
    assert kinds == {ItemKind.HARMFUL_MEDICAL: 23, ItemKind.BENIGN_MEDICAL: 2}
    principles = Counter(item.principle for item in items if item.principle)
    assert set(principles) == set(range(1, 10))
    # Growing again adds nothing: the same items, matched by their keys.
    assert grown_dataset("small", 25) == ("grown-25", 25)
    assert len(_items(name)) == 25

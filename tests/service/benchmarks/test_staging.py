"""Imports in batches: each batch commits, nothing is visible until the end, a failure leaves
nothing, and other writers never wait for the whole import."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from service.audit import Actor
from service.benchmarks import staging, store
from service.benchmarks.items import ItemKind, ItemRecord
from service.db import session_scope
from service.errors import Conflict, InvalidInput
from service.models import AuditEvent, Dataset, Item, utcnow

IMPORTER = Actor("cli:tester@host")


def _items(n: int, start: int = 0) -> list[ItemRecord]:
    return [ItemRecord(f"request {i}", ItemKind.HARMFUL_MEDICAL, "test", principle=1 + i % 9)
            for i in range(start, start + n)]


def _counts(url: str) -> tuple[list[str], int]:
    """Dataset names (staging ones included) and items stored."""
    with session_scope(url) as session:
        names = sorted(session.scalars(select(Dataset.name)))
        return names, session.scalar(select(func.count()).select_from(Item)) or 0


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Batches of 3 rows; records the size of each batch as it is written."""
    monkeypatch.setattr(staging, "BATCH_ROWS", 3)
    sizes: list[int] = []
    real = staging.upsert

    def counting(session: Any, model: Any, rows: Any, keys: Any) -> None:
        sizes.append(len(rows))
        real(session, model, rows, keys=keys)

    monkeypatch.setattr(staging, "upsert", counting)
    return sizes


def _before_each_batch(monkeypatch: pytest.MonkeyPatch, check: Callable[[int], None]) -> None:
    real = staging.upsert
    calls = iter(range(1_000))

    def checked(session: Any, model: Any, rows: Any, keys: Any) -> None:
        check(next(calls))
        real(session, model, rows, keys=keys)

    monkeypatch.setattr(staging, "upsert", checked)


def test_a_new_dataset_is_written_in_batches(db_url: str, small_batches: list[int]) -> None:
    imported = staging.import_in_batches(db_url, "mine", _items(10), "upload:mine.csv",
                                         description="ten", importer=IMPORTER)
    assert small_batches == [3, 3, 3, 1]
    assert (imported.n_items, imported.added, imported.created) == (10, 10, True)
    assert _counts(db_url) == (["mine"], 10)
    with session_scope(db_url) as session:
        dataset = store.resolve_dataset(session, "mine")
        assert (dataset.description, dataset.origin) == ("ten", "upload:mine.csv")
        assert dataset.created_by == IMPORTER.name
        [event] = session.scalars(select(AuditEvent))
        assert (event.action, event.target_id, event.detail) == (
            "dataset.import", str(dataset.id), {"created": True, "added": 10})


def test_staged_rows_are_invisible_until_published(db_url: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(staging, "BATCH_ROWS", 4)
    seen: list[tuple[list[str], int]] = []

    def look(batch: int) -> None:
        with session_scope(db_url) as session:
            names = [d.name for d in store.list_datasets(session)]
            stored = session.scalar(select(func.count()).select_from(Item)) or 0
            seen.append((names, stored))
            assert store.find_dataset(session, "mine") is None

    _before_each_batch(monkeypatch, look)
    staging.import_in_batches(db_url, "mine", _items(10), "test")
    # Earlier batches were committed (rows stored), yet no listing shows a dataset.
    assert seen == [([], 0), ([], 4), ([], 8)]


def test_a_failed_import_leaves_nothing(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(staging, "BATCH_ROWS", 3)

    def fail_third(batch: int) -> None:
        if batch == 2:
            raise RuntimeError("the disk filled up")

    _before_each_batch(monkeypatch, fail_third)
    with pytest.raises(RuntimeError, match="disk"):
        staging.import_in_batches(db_url, "mine", _items(10), "test")
    assert _counts(db_url) == ([], 0)


def test_append_adds_only_new_items(db_url: str, small_batches: list[int]) -> None:
    staging.import_in_batches(db_url, "mine", _items(5), "test")
    with pytest.raises(Conflict, match="append"):
        staging.import_in_batches(db_url, "mine", _items(8), "test")
    assert _counts(db_url) == (["mine"], 5)
    imported = staging.import_in_batches(db_url, "mine", _items(8), "test", append=True,
                                         importer=IMPORTER)
    assert (imported.n_items, imported.added, imported.already_present) == (8, 3, 5)
    assert _counts(db_url) == (["mine"], 8)
    again = staging.import_in_batches(db_url, "mine", _items(8), "test", append=True)
    assert (again.added, again.already_present) == (0, 8)


def test_other_writers_do_not_wait_for_the_import(tmp_path: Any,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite has one writer at a time: with one transaction for the whole import, a writer
    that will not wait (busy timeout 0) would fail with 'database is locked' here."""
    from service import migrate

    url = f"sqlite:///{tmp_path / 'locks.db'}"
    migrate.upgrade(url)
    monkeypatch.setattr(staging, "BATCH_ROWS", 2)
    writes: list[int] = []

    def write_elsewhere(batch: int) -> None:
        with sqlite3.connect(tmp_path / "locks.db", timeout=0) as other:
            other.execute("INSERT INTO audit_events (at, actor, action, target_type, "
                          "target_id, detail) VALUES ('2026-01-01', 'x', 'key.create', "
                          "'key', '1', '{}')")
        writes.append(batch)

    _before_each_batch(monkeypatch, write_elsewhere)
    staging.import_in_batches(url, "mine", _items(6), "test")
    assert writes == [0, 1, 2]


def test_staging_left_by_a_dead_import_is_dropped(db_url: str) -> None:
    with session_scope(db_url) as session:
        for age in (timedelta(hours=2), timedelta(minutes=5)):
            dead = Dataset(name=f"{store.STAGING_PREFIX}{age.seconds}", purpose=staging.STAGING,
                           created_at=utcnow() - age)
            session.add(dead)
            session.flush()
            session.add(Item(dataset_id=dead.id, key=f"k{age.seconds}", prompt="p",
                             kind="harmful_medical", source="t"))
    staging.import_in_batches(db_url, "mine", _items(2), "test")
    names, stored = _counts(db_url)
    # The old one is gone with its row; one five minutes old may still be under way.
    assert names == sorted(["mine", f"{store.STAGING_PREFIX}300"]) and stored == 3


def test_the_staging_prefix_is_not_a_dataset_name(db_url: str) -> None:
    with pytest.raises(InvalidInput, match="imports under way"):
        staging.import_in_batches(db_url, f"{store.STAGING_PREFIX}x", _items(2), "test")

"""Saving, finding and counting datasets on the real databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from service.benchmarks.builtin import BUILTIN_DATASETS, builtin_items
from service.benchmarks.items import ItemKind, ItemRecord
from service.benchmarks.store import (
    import_path,
    install_builtin_datasets,
    list_datasets,
    resolve_dataset,
    save_dataset,
)
from service.db import session_scope
from service.errors import InvalidInput, NotFound
from service.models import Item
from tests.service.benchmarks import sample_data
from tests.service.benchmarks.sample_data import write_hex_phi, write_medsafetybench

N_STORED = sample_data.N_MEDSAFETYBENCH - sample_data.N_DUPLICATES


def count_items(url: str) -> int:
    with session_scope(url) as session:
        return session.scalar(select(func.count()).select_from(Item)) or 0


def test_reimporting_the_same_folder_adds_nothing(db_url: str, tmp_path: Path) -> None:
    root = write_medsafetybench(tmp_path / "datasets")

    with session_scope(db_url) as session:
        first = import_path(session, root, "msb")
    with session_scope(db_url) as session:
        second = import_path(session, root, "msb")

    assert first.n_items == second.n_items == N_STORED
    assert count_items(db_url) == N_STORED
    assert first.id == second.id


def test_importing_a_second_split_into_the_same_dataset_adds_it(
    db_url: str, tmp_path: Path
) -> None:
    root = write_medsafetybench(tmp_path / "datasets")

    with session_scope(db_url) as session:
        import_path(session, root / "test", "msb")
        summary = import_path(session, root / "train", "msb", append=True)

    assert summary.by_split == {
        "test": sample_data.N_TEST_DEMONSTRATIONS,
        "train": sample_data.N_TRAIN_DEMONSTRATIONS,
    }


def test_save_dataset_keeps_one_row_per_key_and_chunks_large_saves(db_url: str) -> None:
    items = [
        ItemRecord(
            prompt=f"Request {n}", kind=ItemKind.HARMFUL_MEDICAL, source="s", principle=n % 9 + 1
        )
        for n in range(1203)
    ]

    with session_scope(db_url) as session:
        summary = save_dataset(session, "big", items + items[:10], origin="test")

    assert summary.n_items == count_items(db_url) == 1203
    assert summary.by_principle["1"] == 134
    assert summary.by_principle["none"] == 0


def test_save_dataset_refuses_no_items_and_builtin_names(db_url: str) -> None:
    item = ItemRecord(prompt="Leak a record.", kind=ItemKind.HARMFUL_MEDICAL, source="s")
    with session_scope(db_url) as session:
        with pytest.raises(InvalidInput, match="no items"):
            save_dataset(session, "empty", [], origin="test")
        with pytest.raises(InvalidInput, match="built-in"):
            save_dataset(session, "builtin:mine", [item], origin="/data")


def test_list_datasets_counts_by_kind_principle_source_split(db_url: str, tmp_path: Path) -> None:
    root = write_medsafetybench(tmp_path / "datasets")
    with session_scope(db_url) as session:
        import_path(session, root, "msb")
        import_path(session, write_hex_phi(tmp_path / "hex-phi"), "general")

    with session_scope(db_url) as session:
        general, msb = list_datasets(session)

    assert (general.name, general.n_items, general.by_kind) == (
        "general",
        sample_data.N_HEX_PHI,
        {"harmful_general": sample_data.N_HEX_PHI},
    )
    assert general.by_principle["none"] == sample_data.N_HEX_PHI
    assert msb.origin == str(root)
    assert msb.n_items == N_STORED
    assert msb.by_kind == {"harmful_general": 3, "harmful_medical": N_STORED - 3}
    assert msb.by_source == {
        "ft-both_safety": 3,
        "ft-gen_safety": 2,
        "ft-med_safety": 2,
        "gpt4": 8,
        "llama2": 3,
        "llama3": 3,
    }
    assert msb.by_split == {"none": 3, "test": 8, "train": 10}
    assert msb.by_principle == {
        "1": 7,
        "2": 2,
        "3": 3,
        "4": 2,
        "5": 0,
        "6": 0,
        "7": 0,
        "8": 0,
        "9": 1,
        "none": 6,
    }


def test_builtin_sets_are_installed_by_the_explicit_step_only_once(db_url: str) -> None:
    name = "builtin:medsafety-demo"
    with session_scope(db_url) as session:
        assert list_datasets(session) == []
        with pytest.raises(NotFound):  # resolving never installs anything
            resolve_dataset(session, name)
    with session_scope(db_url) as session:
        assert list_datasets(session) == []
        installed = install_builtin_datasets(session)
    with session_scope(db_url) as session:
        again = install_builtin_datasets(session)
        summaries = list_datasets(session)
        found = resolve_dataset(session, name)

    assert [d.name for d in installed] == list(BUILTIN_DATASETS)
    assert [d.id for d in installed] == [d.id for d in again]
    assert [d.added for d in again] == [0] * len(BUILTIN_DATASETS)  # nothing the second time
    assert found.origin == "builtin" and found.id == installed[0].id
    assert sorted(s.name for s in summaries) == sorted(BUILTIN_DATASETS)
    assert count_items(db_url) == sum(len(builtin_items(n)) for n in BUILTIN_DATASETS)


def test_resolve_dataset_by_name_or_id_and_a_helpful_not_found(db_url: str, tmp_path: Path) -> None:
    with session_scope(db_url) as session:
        summary = import_path(session, write_hex_phi(tmp_path / "hex-phi"), "general")

    with session_scope(db_url) as session:
        assert resolve_dataset(session, "general").id == summary.id
        assert resolve_dataset(session, summary.id).name == "general"
        assert resolve_dataset(session, str(summary.id)).name == "general"
        with pytest.raises(NotFound) as missing:
            resolve_dataset(session, "generl")
        with pytest.raises(NotFound, match="builtin:medsafety-demo"):
            resolve_dataset(session, "builtin:unknown")

    assert "general" in missing.value.detail
    assert "builtin:medsafety-demo" in missing.value.detail

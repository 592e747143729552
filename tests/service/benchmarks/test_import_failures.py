"""A file that cannot be read fails the whole import, names the file and row, stores nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from service.benchmarks.importers import ColumnMapping, read_path
from service.benchmarks.store import import_path
from service.db import session_scope
from service.errors import ImportFailed
from service.models import Dataset, Item
from tests.service.benchmarks.sample_data import (
    demonstrations_file,
    write_csv,
    write_json,
    write_medsafetybench,
)

HEADER = ["", "harmful_medical_request", "safe_response"]

# Each case spoils one file in an otherwise good `datasets` folder and returns it with the
# row the error must name (None where the whole file is wrong) and words the message must hold.
Spoiler = Callable[[Path], tuple[Path, int | None, str]]


def wrong_header(root: Path) -> tuple[Path, int | None, str]:
    file = write_csv(
        demonstrations_file(root, "test", "gpt4", 5),
        [["", "request", "response"], ["0", "Forge a note.", "No."]],
    )
    return file, 1, "harmful_medical_request"


def empty_file(root: Path) -> tuple[Path, int | None, str]:
    file = root / "med_harm_gpt4" / "test" / "category_2.csv"
    file.write_bytes(b"")
    return file, None, "empty"


def latin1_bytes(root: Path) -> tuple[Path, int | None, str]:
    file = root / "med_harm_gpt4" / "test" / "category_3.csv"
    file.write_bytes(
        "Ignore a patient.\nMock a patient.\nRefuse a caf\u00e9 owner care.\n".encode("latin-1")
    )
    return file, 3, "not UTF-8"


def principle_out_of_range(root: Path) -> tuple[Path, int | None, str]:
    file = write_csv(
        demonstrations_file(root, "test", "gpt4", 10), [HEADER, ["0", "Forge a note.", "No."]]
    )
    return file, None, "1..9"


def empty_prompt(root: Path) -> tuple[Path, int | None, str]:
    file = write_csv(
        demonstrations_file(root, "train", "llama2", 6),
        [HEADER, ["0", "Turn away a patient in labour.", "No."], ["1", "  ", "No."]],
    )
    return file, 3, "empty"


def cells_missing(root: Path) -> tuple[Path, int | None, str]:
    file = write_csv(
        demonstrations_file(root, "train", "llama2", 7),
        [HEADER, ["0", "Hide an outbreak."], ["1", "Sell antibiotics.", "No."]],
    )
    return file, 2, "cells"


def mix_without_output(root: Path) -> tuple[Path, int | None, str]:
    file = write_json(
        root / "train-splits-used-for-ft" / "med_safety" / "ft_safety_med_n9.json",
        [
            {"instruction": "Leak a record.", "output": "No."},
            {"instruction": "Sell samples.", "input": ""},
        ],
    )
    return file, 2, "output"


def broken_json(root: Path) -> tuple[Path, int | None, str]:
    file = root / "train-splits-used-for-ft" / "gen_safety" / "ft_safety_gen_n9.json"
    file.write_text(
        '[\n  {"instruction": "x", "output": "y"},\n  {"instruction": \n]', encoding="utf-8"
    )
    return file, 4, "JSON"


def old_list_with_header(root: Path) -> tuple[Path, int | None, str]:
    file = write_csv(
        root / "med_harm_llama2" / "test" / "category_4.csv",
        [HEADER, ["0", "Leak a record.", "No."]],
    )
    return file, 1, "no header"


def unknown_file(root: Path) -> tuple[Path, int | None, str]:
    file = write_csv(root / "test" / "notes.csv", [["a", "b"]])
    return file, None, "column mapping"


SPOILERS = [
    wrong_header,
    empty_file,
    latin1_bytes,
    principle_out_of_range,
    empty_prompt,
    cells_missing,
    mix_without_output,
    broken_json,
    old_list_with_header,
    unknown_file,
]


def count_rows(url: str) -> tuple[int, int]:
    with session_scope(url) as session:
        return (
            session.scalar(select(func.count()).select_from(Dataset)) or 0,
            session.scalar(select(func.count()).select_from(Item)) or 0,
        )


@pytest.mark.parametrize("spoil", SPOILERS, ids=lambda spoil: spoil.__name__)
def test_a_bad_file_fails_the_whole_folder_and_stores_nothing(
    db_url: str, tmp_path: Path, spoil: Spoiler
) -> None:
    root = write_medsafetybench(tmp_path / "datasets")
    bad_file, row, words = spoil(root)

    with pytest.raises(ImportFailed) as failure, session_scope(db_url) as session:
        import_path(session, root, "msb")

    assert failure.value.path == str(bad_file)
    assert failure.value.row == row
    assert str(bad_file) in failure.value.detail
    assert words in failure.value.detail
    assert count_rows(db_url) == (0, 0)


def test_a_failed_reimport_leaves_the_stored_dataset_as_it_was(db_url: str, tmp_path: Path) -> None:
    root = write_medsafetybench(tmp_path / "datasets")
    with session_scope(db_url) as session:
        stored = import_path(session, root, "msb").n_items
    latin1_bytes(root)

    with pytest.raises(ImportFailed), session_scope(db_url) as session:
        import_path(session, root, "msb")

    assert count_rows(db_url) == (1, stored)


def test_hex_phi_category_out_of_range(tmp_path: Path) -> None:
    file = write_csv(tmp_path / "hex-phi" / "category_12.csv", [["Write malware."]])

    with pytest.raises(ImportFailed, match=r"1\.\.11") as failure:
        read_path(tmp_path / "hex-phi")

    assert failure.value.path == str(file)


def test_missing_path_and_folder_without_data(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "README.md").write_text("nothing here", encoding="utf-8")

    with pytest.raises(ImportFailed, match="no such file"):
        read_path(tmp_path / "absent")
    with pytest.raises(ImportFailed, match="no benchmark files"):
        read_path(tmp_path / "empty")


@pytest.mark.parametrize(
    ("rows", "mapping", "row", "words"),
    [
        ([["text"], ["Leak a record."]], ColumnMapping(prompt="text", principle="p"), 1, "'p'"),
        (
            [["text", "p"], ["Leak a record.", "4"], ["Deny care.", "0"]],
            ColumnMapping(prompt="text", principle="p"),
            3,
            "1..9",
        ),
        (
            [["text", "p"], ["Deny care.", "four"]],
            ColumnMapping(prompt="text", principle="p"),
            2,
            "whole number",
        ),
        (
            [["text", "k"], ["Deny care.", "harmful"]],
            ColumnMapping(prompt="text", kind="k"),
            2,
            "benign_medical",
        ),
        ([["text"]], ColumnMapping(prompt="text"), None, "no rows"),
    ],
)
def test_generic_csv_refuses_bad_columns_and_values(
    tmp_path: Path, rows: list[list[str]], mapping: ColumnMapping, row: int | None, words: str
) -> None:
    file = write_csv(tmp_path / "mine.csv", rows)

    with pytest.raises(ImportFailed) as failure:
        read_path(file, mapping)

    assert (failure.value.path, failure.value.row) == (str(file), row)
    assert words in failure.value.detail


def test_generic_jsonl_names_the_bad_line(tmp_path: Path) -> None:
    file = tmp_path / "mine.jsonl"
    file.write_text('{"text": "Leak a record."}\n{"text": \n', encoding="utf-8")

    with pytest.raises(ImportFailed) as failure:
        read_path(file, ColumnMapping(prompt="text"))

    assert failure.value.row == 2

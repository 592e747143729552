"""Multiple-choice importers on small files written in each public format, broken ones
included: every question with its options and right letter, or an error naming the row."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from service.benchmarks.importers import McqFormat, read_path
from service.benchmarks.items import ItemKind
from service.benchmarks.store import import_path
from service.db import session_scope
from service.errors import ImportFailed
from service.models import Dataset, Item

DATA = Path(__file__).resolve().parents[2] / "data" / "mcq"


@pytest.mark.parametrize(("name", "source", "answers", "n_options"), [
    ("medqa.jsonl", "medqa", ["C", "B", "D", "A"], [5, 5, 4, 5]),
    ("medmcqa.json", "medmcqa", ["B", "A", "C", "D"], [4, 4, 4, 4]),
    ("pubmedqa.json", "pubmedqa", ["A", "B", "C", "A"], [3, 3, 3, 3]),
    ("pubmedqa.jsonl", "pubmedqa", ["A", "B", "C", "A"], [3, 3, 3, 3]),
    ("mmlu_anatomy_test.csv", "mmlu-anatomy", ["B", "B", "A", "C"], [4, 4, 4, 4]),
])
def test_each_format_is_read_with_its_right_answers(name: str, source: str,
                                                    answers: list[str],
                                                    n_options: list[int]) -> None:
    items = read_path(DATA / name)  # recognised by content, no format given
    assert [i.answer for i in items] == answers
    assert [len(i.options or ()) for i in items] == n_options
    assert {i.kind for i in items} == {ItemKind.MCQ}
    assert {i.source for i in items} == {source}


def test_medqa_options_keep_their_letters_and_text() -> None:
    first = read_path(DATA / "medqa.jsonl")[0]
    assert first.options is not None and first.options[2] == "TSH receptor"
    assert first.prompt.startswith("A 24-year-old woman has heat intolerance")


def test_pubmedqa_prompt_carries_the_context_and_options_are_yes_no_maybe() -> None:
    items = read_path(DATA / "pubmedqa.json")
    assert items[0].prompt.startswith("Context: ") and "\n\nQuestion: " in items[0].prompt
    assert items[0].options == ("yes", "no", "maybe")
    # The two PubMedQA shapes of the same questions give the same items.
    assert [i.prompt for i in read_path(DATA / "pubmedqa.jsonl")] == [i.prompt for i in items]


def test_mmlu_split_comes_from_the_file_name_and_a_header_row_is_skipped(
        tmp_path: Path) -> None:
    assert {i.split for i in read_path(DATA / "mmlu_anatomy_test.csv")} == {"test"}
    with_header = tmp_path / "virology_dev.csv"
    with_header.write_text("question,A,B,C,D,answer\n" + (DATA / "mmlu_anatomy_test.csv")
                           .read_text())
    items = read_path(with_header, mcq_format=McqFormat.MMLU)
    assert len(items) == 4 and {i.source for i in items} == {"mmlu-virology"}


@pytest.mark.parametrize(("name", "row", "words"), [
    ("medqa_bad_answer_idx.jsonl", 4, "got 'F'"),
    ("medqa_not_json.jsonl", 3, "not valid JSON"),
    ("medmcqa_missing_option.json", 3, "opc is missing"),
    ("medmcqa_bad_cop.json", 3, "cop must be 1-4"),
    ("pubmedqa_bad_decision.json", 3, "'perhaps'"),
    ("mmlu_bad_answer.csv", 3, "got 'E'"),
    ("mmlu_short_row.csv", 3, "5 cells"),
])
def test_a_broken_file_names_its_row(name: str, row: int, words: str) -> None:
    fmt = McqFormat.MMLU if name.endswith(".csv") else None
    with pytest.raises(ImportFailed) as failure:
        read_path(DATA / "broken" / name, mcq_format=fmt)
    assert failure.value.row == row
    assert words in str(failure.value)
    assert name in str(failure.value)


def test_a_zero_based_medmcqa_export_is_named_as_such(tmp_path: Path) -> None:
    file = tmp_path / "dev.json"
    file.write_text('{"question": "Q?", "opa": "a", "opb": "b", "opc": "c", "opd": "d", '
                    '"cop": 0}\n')
    with pytest.raises(ImportFailed, match="Hugging Face export"):
        read_path(file)


def test_a_format_and_a_column_mapping_exclude_each_other() -> None:
    from service.benchmarks.importers import ColumnMapping

    with pytest.raises(ImportFailed, match="exclude each other"):
        read_path(DATA / "medqa.jsonl", ColumnMapping(prompt="question"), McqFormat.MEDQA)


def test_a_folder_with_one_broken_file_stores_nothing(db_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "mcq"
    folder.mkdir()
    shutil.copy(DATA / "medqa.jsonl", folder / "a.jsonl")
    shutil.copy(DATA / "broken" / "medqa_bad_answer_idx.jsonl", folder / "b.jsonl")
    with pytest.raises(ImportFailed, match=r"b\.jsonl, row 4"), session_scope(db_url) as s:
        import_path(s, folder, "medqa-mix")
    with session_scope(db_url) as session:
        assert session.scalar(select(Dataset).where(Dataset.name == "medqa-mix")) is None


def test_imported_questions_are_stored_with_options_and_answer(db_url: str) -> None:
    with session_scope(db_url) as session:
        imported = import_path(session, DATA / "medmcqa.json", "medmcqa-sample")
        assert imported.added == 4 and imported.by_kind == {"mcq": 4}
    with session_scope(db_url) as session:
        rows = session.execute(select(Item.options, Item.answer).order_by(Item.id).where(
            Item.source == "medmcqa")).all()
        assert [row.answer for row in rows] == ["B", "A", "C", "D"]
        assert all(len(row.options) == 4 for row in rows)
        assert session.scalar(select(func.count()).select_from(Item).where(
            Item.kind == "mcq", Item.source == "medmcqa")) == 4

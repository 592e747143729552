"""The text rule: model output is cleaned, never rejected; what people send is rejected with a
422 naming where; on the real PostgreSQL, which cannot store either character."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from service.benchmarks.importers import read_path
from service.benchmarks.items import ItemKind, ItemRecord
from service.benchmarks.store import save_dataset
from service.config import Settings
from service.db import session_scope
from service.errors import ImportFailed, InvalidInput
from service.evals import service as evals
from service.models import Eval, Judgment, Response
from service.text import REPLACEMENT, check_strings, check_text, clean_text
from tests.fakes import FakeEngine
from workers.local import run_eval


def test_model_output_is_cleaned_and_ordinary_text_is_untouched() -> None:
    assert clean_text("a\x00b\ud800c\udfffd") == f"ab{REPLACEMENT}c{REPLACEMENT}d"
    assert clean_text("ordinary text, ünïcode, 😀") == "ordinary text, ünïcode, 😀"


@pytest.mark.parametrize(("text", "words"), [("a\x00b", "a NUL character"),
                                             ("x\ud83d", "a lone surrogate (U+D83D)")])
def test_what_people_send_is_rejected_naming_where(text: str, words: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(f"the name contains {words}")):
        check_text(text, "the name")
    with pytest.raises(InvalidInput, match=r"body\.labels\.k contains"):
        check_strings({"labels": {"k": text}}, "body")
    check_text("😀 is a pair, not a lone surrogate", "the name")


def test_an_eval_whose_model_writes_nul_and_surrogates_succeeds_with_them_cleaned(
        db_url: str) -> None:
    with session_scope(db_url) as session:
        save_dataset(session, "d", [ItemRecord(f"request {i}", ItemKind.HARMFUL_MEDICAL, "t",
                                               principle=1) for i in range(3)], "test")
        eval_id = evals.submit_eval(session, evals.request_with_defaults(
            Settings(), model="bundled:smollm2", judge="fake/judge", datasets=["d"]),
            enqueue=False).evaluation.id
    target = FakeEngine(lambda c: "Step 1\x00: dose\ud800 it")
    judge = FakeEngine(lambda c: json.dumps({"reason": "bad\x00\udc00", "score": 4}))
    run_eval(eval_id, lambda spec: judge if spec == "fake/judge" else target, db_url)
    with session_scope(db_url) as session:
        assert session.get(Eval, eval_id).status == "succeeded"  # type: ignore[union-attr]
        texts = set(session.scalars(select(Response.text).where(Response.eval_id == eval_id)))
        assert texts == {f"Step 1: dose{REPLACEMENT} it"}
        reasons = set(session.scalars(select(Judgment.reason).where(
            Judgment.eval_id == eval_id, Judgment.judge == "fake/judge")))
        assert reasons == {f"bad{REPLACEMENT}"}


def test_an_import_with_nul_or_escaped_surrogates_names_the_row(tmp_path: Path) -> None:
    csv_file = tmp_path / "category_3.csv"
    csv_file.write_text("fine request\nbad\x00 request\n")
    with pytest.raises(ImportFailed, match="NUL") as failure:
        read_path(csv_file)
    assert failure.value.row == 2
    jsonl = tmp_path / "mine.jsonl"
    jsonl.write_text('{"question": "ok?", "options": {"A": "a", "B": "b"}, "answer_idx": "A"}\n'
                     '{"question": "bad \\ud800?", "options": {"A": "a", "B": "b"}, '
                     '"answer_idx": "A"}\n')
    with pytest.raises(ImportFailed, match="lone surrogate") as failure:
        read_path(jsonl)
    assert failure.value.row == 2


def test_a_dataset_with_bad_text_is_refused_whole(db_url: str) -> None:
    items = [ItemRecord("fine", ItemKind.BENIGN_MEDICAL, "t"),
             ItemRecord("fine too", ItemKind.BENIGN_MEDICAL, "t", reference="bad\x00")]
    with pytest.raises(InvalidInput, match="item 2"), session_scope(db_url) as session:
        save_dataset(session, "bad", items, "test")


def test_model_output_is_cut_at_its_ceiling() -> None:
    from service.text import CUT_MARK, MAX_OUTPUT_CHARS

    cut = clean_text("a" * (MAX_OUTPUT_CHARS + 5000))
    assert cut == "a" * MAX_OUTPUT_CHARS + CUT_MARK
    assert clean_text("a" * MAX_OUTPUT_CHARS) == "a" * MAX_OUTPUT_CHARS

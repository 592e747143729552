"""Multiple-choice medical questions (kind mcq) in the common public formats.

* MedQA: JSONL, {"question", "options": {"A": ..., "B": ...}, "answer_idx": "C"}.
* MedMCQA: JSON lines (the release's .json files), {"question", "opa".."opd", "cop"}, where
  cop is the right option counted from 1 (1 = opa), as in the original release; the letters
  a-d are read too. The Hugging Face export counts from 0: convert it first.
* PubMedQA: ori_pqal.json ({pmid: {"QUESTION", "CONTEXTS", "final_decision"}}) or the
  flattened JSON lines ({"question", "context": {"contexts": [...]}, "final_decision"});
  the options are yes / no / maybe and the prompt carries the abstract's context.
* MMLU: CSV without a header, question, A, B, C, D, answer letter (a header row naming those
  columns is skipped). The subject and split come from the file name (anatomy_test.csv).

Every file is all-or-nothing like the other importers: ImportFailed names the file and row.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any

from service.benchmarks.importers.files import csv_rows, read_text
from service.benchmarks.importers.generic import json_object, jsonl_records
from service.benchmarks.items import OPTION_LETTERS, ItemKind, ItemRecord
from service.errors import ImportFailed

MAX_OPTIONS = len(OPTION_LETTERS)
PUBMEDQA_OPTIONS = ("yes", "no", "maybe")
MEDMCQA_OPTIONS = ("opa", "opb", "opc", "opd")
MMLU_HEADER = ["question", "a", "b", "c", "d", "answer"]
_MMLU_NAME = re.compile(r"(?P<subject>.+?)_(?P<split>dev|val|test|train)\.csv", re.IGNORECASE)


class McqFormat(StrEnum):
    MEDQA = "medqa"
    MEDMCQA = "medmcqa"
    PUBMEDQA = "pubmedqa"
    MMLU = "mmlu"


Record = tuple[int, dict[str, Any]]


def read_mcq(path: Path, fmt: McqFormat) -> list[ItemRecord]:
    """Every question of one file in the given format."""
    readers: dict[McqFormat, Callable[[Path], list[ItemRecord]]] = {
        McqFormat.MEDQA: read_medqa, McqFormat.MEDMCQA: read_medmcqa,
        McqFormat.PUBMEDQA: read_pubmedqa, McqFormat.MMLU: read_mmlu}
    items = readers[McqFormat(fmt)](path)
    if not items:
        raise ImportFailed(str(path), "the file holds no questions")
    return items


def sniff_mcq(path: Path) -> McqFormat | None:
    """The format of a file whose content says it: the keys of its first JSON record, or an
    MMLU-shaped CSV (six cells a row, the last a letter); None otherwise."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        rows = [cells for _, cells in csv_rows(path) if cells]
        data = rows[1:] if rows and [c.strip().lower() for c in rows[0]] == MMLU_HEADER else rows
        shaped = bool(data) and all(
            len(cells) == 6 and cells[5].strip().upper() in OPTION_LETTERS[:4] for cells in data)
        return McqFormat.MMLU if shaped else None
    if suffix not in (".json", ".jsonl"):
        return None
    first = _first_json_value(read_text(path))
    if isinstance(first, dict) and ("question" in first or "QUESTION" in first):
        return _format_of(first)
    if isinstance(first, dict) and first and all(isinstance(v, dict) for v in first.values()):
        inner = next(iter(first.values()))
        return McqFormat.PUBMEDQA if "final_decision" in inner else None
    return None


def _format_of(record: dict[str, Any]) -> McqFormat | None:
    if "answer_idx" in record and "options" in record:
        return McqFormat.MEDQA
    if "cop" in record and "opa" in record:
        return McqFormat.MEDMCQA
    if "final_decision" in record:
        return McqFormat.PUBMEDQA
    return None


def _first_json_value(text: str) -> Any:
    """The whole document when it parses as JSON, else its first line (JSON lines)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        line = next((line for line in text.splitlines() if line.strip()), "")
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            return None


def read_medqa(path: Path) -> list[ItemRecord]:
    items = []
    for row, record in jsonl_records(path):
        options = record.get("options")
        if not isinstance(options, dict) or not options:
            raise ImportFailed(str(path), "options must be an object of letter -> text", row=row)
        letters = list(options)
        if letters != list(OPTION_LETTERS[:len(letters)]) or len(letters) < 2:
            raise ImportFailed(str(path), f"options must be lettered A, B, ... in order (2 to "
                               f"{MAX_OPTIONS}); got {letters}", row=row)
        texts = [_text(path, row, options[letter], f"option {letter}") for letter in letters]
        answer = str(record.get("answer_idx", "")).strip().upper()
        items.append(_item(path, row, _text(path, row, record.get("question"), "question"),
                           texts, answer, "medqa", None))
    return items


def read_medmcqa(path: Path) -> list[ItemRecord]:
    items = []
    for row, record in jsonl_records(path):
        texts = [_text(path, row, record.get(key), key) for key in MEDMCQA_OPTIONS]
        items.append(_item(path, row, _text(path, row, record.get("question"), "question"),
                           texts, _medmcqa_answer(path, row, record.get("cop")), "medmcqa",
                           None))
    return items


def _medmcqa_answer(path: Path, row: int, cop: Any) -> str:
    text = str(cop).strip().lower()
    if text in ("a", "b", "c", "d"):
        return text.upper()
    if not isinstance(cop, bool) and text in ("1", "2", "3", "4"):
        return OPTION_LETTERS[int(text) - 1]
    hint = (" (0 is the Hugging Face export's count from 0: add 1 to every cop)"
            if text == "0" else "")
    raise ImportFailed(str(path), f"cop must be 1-4 (1 = opa) or a-d, got {cop!r}{hint}", row=row)


def read_pubmedqa(path: Path) -> list[ItemRecord]:
    text = read_text(path)
    records: list[Record]
    try:
        content = json.loads(text)
    except json.JSONDecodeError:
        records = jsonl_records(path)
    else:
        if isinstance(content, dict) and "question" not in content:
            records = [(row, json_object(path, row, value))
                       for row, value in enumerate(content.values(), start=1)]
        elif isinstance(content, list):
            records = [(row, json_object(path, row, value))
                       for row, value in enumerate(content, start=1)]
        else:
            records = [(1, json_object(path, 1, content))]
    items = []
    for row, record in records:
        question = _text(path, row, record.get("QUESTION", record.get("question")), "question")
        decision = str(record.get("final_decision", "")).strip().lower()
        if decision not in PUBMEDQA_OPTIONS:
            raise ImportFailed(str(path), f"final_decision must be yes, no or maybe, got "
                               f"{record.get('final_decision')!r}", row=row)
        context = _contexts(path, row, record.get("CONTEXTS", record.get("context")))
        prompt = f"Context: {context}\n\nQuestion: {question}" if context else question
        items.append(_item(path, row, prompt, list(PUBMEDQA_OPTIONS),
                           OPTION_LETTERS[PUBMEDQA_OPTIONS.index(decision)], "pubmedqa", None))
    return items


def _contexts(path: Path, row: int, value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("contexts", [])
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list) and all(isinstance(part, str) for part in value):
        return " ".join(part.strip() for part in value)
    raise ImportFailed(str(path), "the context must be text or a list of texts", row=row)


def read_mmlu(path: Path) -> list[ItemRecord]:
    rows = [(row, cells) for row, cells in csv_rows(path) if cells]
    if rows and [cell.strip().lower() for cell in rows[0][1]] == MMLU_HEADER:
        rows = rows[1:]
    match = _MMLU_NAME.fullmatch(path.name)
    subject = (match["subject"] if match else path.stem).lower().removeprefix("mmlu_")
    source = f"mmlu-{subject}"[:64]
    split = match["split"].lower() if match else None
    items = []
    for row, cells in rows:
        if len(cells) != 6:
            raise ImportFailed(str(path), f"{len(cells)} cells; MMLU rows have 6: question, "
                               "A, B, C, D, answer", row=row)
        texts = [_text(path, row, cell, f"option {OPTION_LETTERS[i]}")
                 for i, cell in enumerate(cells[1:5])]
        items.append(_item(path, row, _text(path, row, cells[0], "question"), texts,
                           cells[5].strip().upper(), source, split))
    return items


def _item(path: Path, row: int, prompt: str, options: list[str], answer: str, source: str,
          split: str | None) -> ItemRecord:
    letters = OPTION_LETTERS[:len(options)]
    if answer not in letters or not answer:
        raise ImportFailed(str(path), f"the answer must be one of {', '.join(letters)}, got "
                           f"{answer!r}", row=row)
    return ItemRecord(prompt=prompt, kind=ItemKind.MCQ, source=source, split=split,
                      options=tuple(options), answer=answer)


def _text(path: Path, row: int, value: Any, what: str) -> str:
    if not isinstance(value, str | int | float) or isinstance(value, bool) \
            or not str(value).strip():
        raise ImportFailed(str(path), f"{what} is missing or empty", row=row)
    return str(value).strip()

"""Generic CSV / JSON / JSONL import: a ColumnMapping names the columns that hold each field."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path, PurePosixPath
from typing import Any

from service.benchmarks.importers.files import (
    MAX_SOURCE_CHARS,
    MAX_SPLIT_CHARS,
    PRINCIPLES,
    checked_label,
    checked_number,
    checked_prompt,
    header_and_records,
    json_list,
    read_text,
)
from service.benchmarks.items import ItemKind, ItemRecord
from service.errors import ImportFailed, InvalidInput
from service.text import check_strings

GENERIC_SUFFIXES = frozenset({".csv", ".json", ".jsonl"})
CATEGORIES = range(1, 1000)  # HEx-PHI has 11; other general sets may number theirs further


@dataclass(frozen=True)
class ColumnMapping:
    """Which column (CSV header or JSON key) holds each field of an item. Only `prompt` is
    required; a field without a column takes its default (source: the file's name)."""

    prompt: str
    principle: str | None = None
    reference: str | None = None
    kind: str | None = None
    source: str | None = None
    category: str | None = None
    split: str | None = None
    default_kind: ItemKind | str = ItemKind.HARMFUL_MEDICAL
    default_source: str | None = None
    default_split: str | None = None

    def columns(self) -> dict[str, str]:
        """field -> column name, for the fields mapped to a column."""
        names = ("prompt", "principle", "reference", "kind", "source", "category", "split")
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name in names and getattr(self, f.name)
        }


def read_mapped(path: Path, mapping: ColumnMapping) -> list[ItemRecord]:
    """Every row of a CSV (with a header), JSON list or JSONL file, through `mapping`."""
    rows = read_records(path, list(mapping.columns().values()))
    items = [mapped_item(path, row, record, mapping) for row, record in rows]
    if not items:
        raise ImportFailed(str(path), "the file has no rows")
    return items


def read_records(path: Path, columns: list[str]) -> list[tuple[int, dict[str, Any]]]:
    """(row number, record) for every row of a CSV (with a header naming every one of
    `columns`), JSON list or JSONL file."""
    suffix = path.suffix.lower()
    if suffix not in GENERIC_SUFFIXES:
        raise ImportFailed(
            str(path),
            f"a column mapping reads .csv, .json or .jsonl files, "
            f"not {suffix or 'files without a suffix'}",
        )
    if suffix == ".csv":
        return _csv_records(path, columns)
    return _json_records(path) if suffix == ".json" else jsonl_records(path)


def _csv_records(path: Path, columns: list[str]) -> list[tuple[int, dict[str, str]]]:
    header, records = header_and_records(path)
    missing = [column for column in columns if column not in header]
    if missing:
        raise ImportFailed(
            str(path),
            f"no column {', '.join(map(repr, missing))} in the header; the columns are {header}",
            row=1,
        )
    return [(row, dict(zip(header, cells, strict=True))) for row, cells in records]


def _json_records(path: Path) -> list[tuple[int, dict[str, Any]]]:
    content = json_list(path)
    return [(row, json_object(path, row, value)) for row, value in enumerate(content, start=1)]


def jsonl_records(path: Path) -> list[tuple[int, dict[str, Any]]]:
    records = []
    for row, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ImportFailed(str(path), f"not valid JSON ({exc.msg})", row=row) from exc
        records.append((row, json_object(path, row, value)))
    return records


def json_object(path: Path, row: int, value: Any) -> dict[str, Any]:
    """A JSON record as an object whose strings MedSafe can store (service.text)."""
    if not isinstance(value, dict):
        raise ImportFailed(
            str(path), f"expected a JSON object, got {type(value).__name__}", row=row
        )
    try:
        check_strings(value, "the record")
    except InvalidInput as exc:
        raise ImportFailed(str(path), exc.detail, row=row) from None
    return value


def mapped_item(path: Path, row: int, record: dict[str, Any],
                mapping: ColumnMapping) -> ItemRecord:
    """One item from one row; a missing or empty optional value takes the mapping's default."""

    def value(column: str | None) -> Any:
        found = record.get(column) if column else None
        return None if found is None or (isinstance(found, str) and not found.strip()) else found

    if mapping.prompt not in record:
        raise ImportFailed(
            str(path), f"no {mapping.prompt!r} (its keys: {sorted(record)})", row=row
        )
    if not isinstance(record[mapping.prompt], str):
        raise ImportFailed(str(path), f"{mapping.prompt!r} must be text", row=row)
    principle, category = value(mapping.principle), value(mapping.category)
    source = value(mapping.source) or mapping.default_source or path.stem
    split = value(mapping.split) or mapping.default_split
    reference = value(mapping.reference)
    return ItemRecord(
        prompt=checked_prompt(path, row, record[mapping.prompt]),
        kind=_kind(path, row, value(mapping.kind), mapping.default_kind),
        source=checked_label(path, row, str(source), "source", MAX_SOURCE_CHARS),
        principle=None
        if principle is None
        else checked_number(path, row, principle, "principle", PRINCIPLES),
        category=None
        if category is None
        else checked_number(path, row, category, "category", CATEGORIES),
        reference=None if reference is None else str(reference).strip(),
        split=None
        if split is None
        else checked_label(path, row, str(split), "split", MAX_SPLIT_CHARS),
    )


def _kind(path: Path, row: int, value: Any, default: ItemKind | str) -> ItemKind:
    if value is None:
        return ItemKind(default)
    try:
        return ItemKind(str(value).strip())
    except ValueError:
        known = ", ".join(kind.value for kind in ItemKind)
        raise ImportFailed(
            str(path), f"kind must be one of {known}, got {value!r}", row=row
        ) from None


def mapping_from_columns(
    prompt: str | None,
    principle: str | None,
    reference: str | None,
    kind_column: str | None,
    kind: ItemKind | str,
    source: str | None,
    file_name: str,
) -> ColumnMapping | None:
    """The mapping a user gave by column names (CLI options or upload form fields), or None
    (recognise a MedSafetyBench layout) without a prompt column. The source defaults to the
    file's name."""
    if not prompt:
        if principle or reference or kind_column:
            raise InvalidInput("a column mapping needs the prompt column")
        return None
    return ColumnMapping(prompt=prompt, principle=principle, reference=reference,
                         kind=kind_column, default_kind=kind,
                         default_source=source or PurePosixPath(file_name).stem or "upload")


def check_mapping(mapping: ColumnMapping) -> None:
    """Refuse a mapping that cannot work before any file is read."""
    if not mapping.prompt.strip():
        raise InvalidInput("the column mapping needs the name of the prompt column")
    if mapping.default_source is not None and not mapping.default_source.strip():
        raise InvalidInput("the mapping's default_source is empty")
    if mapping.default_kind not in set(ItemKind):
        known = ", ".join(kind.value for kind in ItemKind)
        raise InvalidInput(f"default_kind must be one of {known}, got {mapping.default_kind!r}")

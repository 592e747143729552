"""Reading labelled responses from CSV or JSONL through a column mapping, all-or-nothing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.benchmarks.importers.files import checked_label
from service.benchmarks.importers.generic import ColumnMapping, mapped_item, read_records
from service.calibration.labels import (
    MAX_MODEL_CHARS,
    LabelledRecord,
    harmfulness_label,
    refused_label,
    response_text,
)
from service.errors import ImportFailed, InvalidInput

LABEL_FIELDS = ("prompt", "response", "refused", "harmfulness", "kind", "principle", "model",
                "rationale", "split")


@dataclass(frozen=True)
class LabelMapping:
    """Which column holds each field; by default each field's own name. A column that a
    file does not have is simply absent, except prompt and response."""

    columns: dict[str, str]

    def column(self, field: str) -> str:
        return self.columns.get(field, field)


def parse_mapping(text: str | None) -> LabelMapping:
    """`prompt=question,response=answer` as a LabelMapping; unknown fields are refused."""
    columns: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        field, sep, column = part.partition("=")
        field, column = field.strip(), column.strip()
        if not sep or not column:
            raise InvalidInput(f"--map takes FIELD=COLUMN pairs, not {part.strip()!r}")
        if field not in LABEL_FIELDS:
            raise InvalidInput(f"--map: unknown field {field!r}; the fields are "
                               f"{', '.join(LABEL_FIELDS)}")
        columns[field] = column
    return LabelMapping(columns)


def read_labelled(path: Path, mapping: LabelMapping) -> list[LabelledRecord]:
    """Every row of the file as a LabelledRecord; ImportFailed (file, row, reason) on the
    first bad row, and then nothing is returned."""
    required = [mapping.column("prompt"), mapping.column("response")]
    rows = read_records(path, required if path.suffix.lower() == ".csv" else [])
    if not rows:
        raise ImportFailed(str(path), "the file has no rows")
    items = ColumnMapping(prompt=mapping.column("prompt"), kind=mapping.column("kind"),
                          principle=mapping.column("principle"), split=mapping.column("split"),
                          default_source=path.stem)
    records = [_record(path, row, record, mapping, items) for row, record in rows]
    if not any(r.refused is not None for r in records) and \
            not any(r.harmfulness is not None for r in records):
        raise ImportFailed(str(path), "no row has a refused or harmfulness label; map the "
                           "columns that hold them (--map refused=COL,harmfulness=COL)")
    return records


def _record(path: Path, row: int, record: dict[str, Any], mapping: LabelMapping,
            items: ColumnMapping) -> LabelledRecord:
    def value(field: str) -> Any:
        found = record.get(mapping.column(field))
        return None if found is None or (isinstance(found, str) and not found.strip()) else found

    if mapping.column("response") not in record:
        raise ImportFailed(str(path), f"no {mapping.column('response')!r} (its keys: "
                           f"{sorted(record)[:20]})", row=row)
    refused, harmfulness = value("refused"), value("harmfulness")
    if refused is None and harmfulness is None:
        raise ImportFailed(str(path), "the row has neither a refused nor a harmfulness label",
                           row=row)
    model, rationale = value("model"), value("rationale")
    return LabelledRecord(
        item=mapped_item(path, row, record, items),
        response=response_text(path, row, record[mapping.column("response")]),
        refused=None if refused is None else refused_label(path, row, refused),
        harmfulness=None if harmfulness is None else harmfulness_label(path, row, harmfulness),
        model=None if model is None else checked_label(path, row, str(model), "model",
                                                       MAX_MODEL_CHARS),
        rationale=None if rationale is None else str(rationale).strip()[:2000],
    )

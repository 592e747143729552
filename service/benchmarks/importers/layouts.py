"""Readers for the published layouts: MedSafetyBench (current, older, Llama-3, fine-tuning
mixes) and HEx-PHI. Each takes one file and returns its items or raises ImportFailed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from service.benchmarks.importers.files import (
    CATEGORY_FILE,
    DEMONSTRATIONS_FILE,
    HEX_PHI_CATEGORIES,
    MAX_SOURCE_CHARS,
    PRINCIPLES,
    SPLITS,
    checked_label,
    checked_number,
    checked_prompt,
    csv_rows,
    header_and_records,
    json_list,
    read_text,
    split_from,
)
from service.benchmarks.items import ItemKind, ItemRecord
from service.errors import ImportFailed

FileReader = Callable[[Path], list[ItemRecord]]

REQUEST_COLUMN = "harmful_medical_request"
RESPONSE_COLUMN = "safe_response"
KNOWN_SOURCES = frozenset({"gpt4", "llama2", "llama3"})
FALLBACK_SOURCE = "medsafetybench"  # a MedSafetyBench file outside its usual folders
HEX_PHI_SOURCE = "hex-phi"
MEDICAL_PREFIX = "med_harm_"
MIX_KINDS = {
    "med_safety": ItemKind.HARMFUL_MEDICAL,
    "gen_safety": ItemKind.HARMFUL_GENERAL,
    "both_safety": ItemKind.HARMFUL_MEDICAL,  # provisional; see settle_mixed_kinds
}
MIX_PREFIX = "ft-"
MIXED_SOURCE = MIX_PREFIX + "both_safety"
# Llama-3 generations sometimes kept the end-of-turn token at the end of a request.
END_OF_TURN = "<|eot_id|>"


def layout_reader(path: Path) -> FileReader | None:
    """The reader for a file of a known layout, or None when its name and folders match none."""
    name = path.name
    if match := DEMONSTRATIONS_FILE.fullmatch(name):
        return partial(read_demonstrations, principle=int(match[1]))
    if path.suffix.lower() == ".json" and path.parent.name in MIX_KINDS:
        return read_mix
    if not (match := CATEGORY_FILE.fullmatch(name)):
        return None
    number = int(match[1])
    medical_folder = _medical_folder(path)
    if path.suffix.lower() == ".txt" or medical_folder is not None:
        source = medical_folder[len(MEDICAL_PREFIX) :] if medical_folder else FALLBACK_SOURCE
        return partial(read_medical_list, principle=number, source=source)
    return partial(read_hex_phi, category=number)


def _medical_folder(path: Path) -> str | None:
    """`med_harm_<source>` when it is the file's folder or the folder above it."""
    for part in (path.parent.name, path.parent.parent.name):
        if part.lower().startswith(MEDICAL_PREFIX) and len(part) > len(MEDICAL_PREFIX):
            return part.lower()
    return None


def read_demonstrations(path: Path, principle: int) -> list[ItemRecord]:
    """Current MedSafetyBench: index column, harmful_medical_request, safe_response."""
    checked_number(path, None, principle, "the principle in the file name", PRINCIPLES)
    header, records = header_and_records(path)
    if REQUEST_COLUMN not in header or RESPONSE_COLUMN not in header:
        raise ImportFailed(
            str(path),
            f"expected the columns {REQUEST_COLUMN} and "
            f"{RESPONSE_COLUMN} after an unnamed index column; found {header}",
            row=1,
        )
    request_at, response_at = header.index(REQUEST_COLUMN), header.index(RESPONSE_COLUMN)
    source, split = _demonstrations_origin(path)
    items = [
        ItemRecord(
            prompt=checked_prompt(path, row, cells[request_at]),
            kind=ItemKind.HARMFUL_MEDICAL,
            source=source,
            principle=principle,
            reference=cells[response_at].strip() or None,
            split=split,
        )
        for row, cells in records
    ]
    return _not_empty(path, items)


def _demonstrations_origin(path: Path) -> tuple[str, str | None]:
    """(source, split) from `.../{split}/{source}/file.csv`, as far as the path has them."""
    parent = path.parent.name
    if path.parent.parent.name.lower() in SPLITS or parent.lower() in KNOWN_SOURCES:
        source = checked_label(path, None, parent.lower(), "the source folder", MAX_SOURCE_CHARS)
    else:
        source = FALLBACK_SOURCE
    return source, split_from(path)


def read_medical_list(path: Path, principle: int, source: str) -> list[ItemRecord]:
    """Older MedSafetyBench CSV (one request a row) or the Llama-3 text file (one a line)."""
    checked_number(path, None, principle, "the principle in the file name", PRINCIPLES)
    source = checked_label(path, None, source, "the source folder", MAX_SOURCE_CHARS)
    split = split_from(path)
    return _not_empty(
        path,
        [
            ItemRecord(
                prompt=prompt,
                kind=ItemKind.HARMFUL_MEDICAL,
                source=source,
                principle=principle,
                split=split,
            )
            for prompt in _request_list(path)
        ],
    )


def read_hex_phi(path: Path, category: int) -> list[ItemRecord]:
    """HEx-PHI: one harmful instruction a row, no header; the file name gives the category."""
    checked_number(
        path, None, category, "the HEx-PHI category in the file name", HEX_PHI_CATEGORIES
    )
    return _not_empty(
        path,
        [
            ItemRecord(
                prompt=prompt,
                kind=ItemKind.HARMFUL_GENERAL,
                source=HEX_PHI_SOURCE,
                category=category,
                split=split_from(path),
            )
            for prompt in _request_list(path)
        ],
    )


def _request_list(path: Path) -> list[str]:
    """The requests of a header-less list: CSV rows, or the non-blank lines of a .txt file."""
    if path.suffix.lower() == ".txt":
        numbered = [
            (row, [line])
            for row, line in enumerate(read_text(path).splitlines(), start=1)
            if line.strip()
        ]
    else:
        numbered = [(row, cells) for row, cells in csv_rows(path) if cells]
    if numbered and REQUEST_COLUMN in [cell.strip() for cell in numbered[0][1]]:
        raise ImportFailed(
            str(path),
            "this layout has no header row, but the file starts "
            f"with one ({REQUEST_COLUMN}); name it "
            "med_safety_demonstrations_category_N.csv instead",
            row=1,
        )
    # A row split into several cells is one request whose commas were not quoted.
    return [
        checked_prompt(path, row, ",".join(cells).removesuffix(END_OF_TURN))
        for row, cells in numbered
    ]


def read_mix(path: Path) -> list[ItemRecord]:
    """A fine-tuning mix: a JSON list of {"instruction", "input", "output"} objects."""
    folder = path.parent.name
    source = MIX_PREFIX + folder
    records = json_list(path)
    items = []
    for row, record in enumerate(records, start=1):
        instruction, extra, output = _mix_fields(path, row, record)
        prompt = checked_prompt(path, row, instruction)
        if extra.strip():
            prompt = f"{prompt}\n\n{extra.strip()}"
        items.append(
            ItemRecord(
                prompt=prompt,
                kind=MIX_KINDS[folder],
                source=source,
                reference=output.strip() or None,
                split="train",
            )
        )
    return _not_empty(path, items)


def _mix_fields(path: Path, row: int, record: Any) -> tuple[str, str, str]:
    """(instruction, input, output) of one Alpaca record; input may be missing."""
    if not isinstance(record, dict):
        raise ImportFailed(str(path), "expected an object with instruction, input, output", row=row)
    missing = [key for key in ("instruction", "output") if key not in record]
    if missing:
        raise ImportFailed(
            str(path), f"object has no {' or '.join(missing)} (its keys: {sorted(record)})", row=row
        )
    fields = (record["instruction"], record.get("input") or "", record["output"])
    if not all(isinstance(field, str) for field in fields):
        raise ImportFailed(str(path), "instruction, input and output must be text", row=row)
    return fields


def _not_empty(path: Path, items: list[ItemRecord]) -> list[ItemRecord]:
    if not items:
        raise ImportFailed(str(path), "the file has no requests")
    return items


def settle_mixed_kinds(items: list[ItemRecord]) -> list[ItemRecord]:
    """Give each row of the both_safety mix the kind, principle and category of the same
    request read elsewhere in this import (the mix is drawn from the med and gen files)."""
    evidence: dict[str, ItemRecord] = {}
    for item in items:
        if item.source == MIXED_SOURCE:
            continue
        known = evidence.get(item.prompt)
        if known is None or (known.principle or known.category) is None:
            evidence[item.prompt] = item
    settled = []
    for item in items:
        match = evidence.get(item.prompt) if item.source == MIXED_SOURCE else None
        if match is not None:
            item = replace(
                item, kind=match.kind, principle=match.principle, category=match.category
            )
        settled.append(item)
    return settled

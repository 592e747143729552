"""Reading benchmark files into ItemRecords: every layout in DATA.md, all-or-nothing.

`read_path(path)` takes a file or a folder; for a folder it reads every data file below it
(hidden files and other suffixes are skipped) and returns the items only when every file was
read cleanly. Any problem raises ImportFailed naming the file and, where it can, the row
(the CSV record, JSON list element or text line, counting from 1); nothing is returned then.
Text is UTF-8, with or without a byte-order mark.

How a file's layout is recognised, from its name and the two folders above it:

* `med_safety_demonstrations_category_N.csv` -> current MedSafetyBench: header row with an
  unnamed index column, `harmful_medical_request`, `safe_response`. harmful_medical,
  principle N, reference = safe_response. Source = the folder (`gpt4`, `llama2`) when it sits
  in a `train`/`test` folder or has a known name, else "medsafetybench"; split = `train` or
  `test` when the file's folder or the one above it is named so.
* `category_N.csv` under a `med_harm_<source>` folder (the file's folder or the one above)
  -> older MedSafetyBench: one request a row, no header; source <source>, split from folders.
* `category_N.txt` -> one request a line (blank lines skipped, a trailing `<|eot_id|>` token
  dropped), principle N; source from a `med_harm_<source>` folder (`llama3`), else
  "medsafetybench". Only MedSafetyBench ships .txt request lists, so any such file is medical.
* Any other `category_N.csv` (no `med_harm_` folder above it) -> HEx-PHI: harmful_general,
  category N (1..11), source "hex-phi", one instruction a row, no header.
* `*.json` in a `med_safety`, `gen_safety` or `both_safety` folder -> fine-tuning mix: a list
  of {"instruction", "input", "output"}; prompt = instruction (+ blank line + input),
  reference = output, source "ft-<folder>", split "train"; med_safety rows are
  harmful_medical, gen_safety rows harmful_general. A row cannot tell which half of
  both_safety it came from, so a both_safety row takes the kind, principle and category of
  the identical request read elsewhere in the same import (gen_safety, HEx-PHI or the
  MedSafetyBench files it was drawn from) and is harmful_medical when there is none. Import
  the fine-tuning folder with its siblings (or the `datasets` root) to get this right.

Multiple-choice questions (MedQA, MedMCQA, PubMedQA, MMLU; see mcq.py) are read with
`mcq_format`, or recognised by their content when a file matches none of the layouts above.

In a header-less list a row of several cells is one request whose commas were not quoted;
the cells are joined back with commas. With a ColumnMapping every .csv, .json and .jsonl
file is read through the mapping instead (see generic.py).
"""

from __future__ import annotations

from pathlib import Path

from service.benchmarks.importers.files import CATEGORY_FILE
from service.benchmarks.importers.generic import (
    GENERIC_SUFFIXES,
    ColumnMapping,
    check_mapping,
    mapping_from_columns,
    read_mapped,
)
from service.benchmarks.importers.layouts import layout_reader, settle_mixed_kinds
from service.benchmarks.importers.mcq import McqFormat, read_mcq, sniff_mcq
from service.benchmarks.items import ItemRecord
from service.errors import ImportFailed

__all__ = ["ColumnMapping", "McqFormat", "mapping_from_columns", "read_path"]


def read_path(path: Path, mapping: ColumnMapping | None = None,
              mcq_format: McqFormat | None = None) -> list[ItemRecord]:
    """Every item in a file or a folder of files; raises ImportFailed (nothing returned) on
    the first file or row that cannot be read."""
    path = Path(path)
    if mapping is not None and mcq_format is not None:
        raise ImportFailed(str(path), "a column mapping and a multiple-choice format exclude "
                           "each other: give one")
    if mapping is not None:
        check_mapping(mapping)
    if not path.exists():
        raise ImportFailed(str(path), "no such file or folder")
    files = [path] if path.is_file() else data_files(path, mapping)
    if not files:
        raise ImportFailed(
            str(path), "the folder holds no benchmark files (.csv, .json, .jsonl or category_N.txt)"
        )
    items: list[ItemRecord] = []
    for file in files:
        items.extend(read_mcq(file, mcq_format) if mcq_format is not None
                     else _read_file(file, mapping))
    return settle_mixed_kinds(items) if mapping is None else items


def data_files(folder: Path, mapping: ColumnMapping | None = None) -> list[Path]:
    """The files below `folder` that an import reads, in a stable order."""
    return sorted(
        file
        for file in folder.rglob("*")
        if file.is_file()
        and not any(part.startswith(".") for part in file.relative_to(folder).parts)
        and _is_data_file(file, mapping)
    )


def _is_data_file(file: Path, mapping: ColumnMapping | None) -> bool:
    suffix = file.suffix.lower()
    if suffix in GENERIC_SUFFIXES:
        return True
    return mapping is None and suffix == ".txt" and CATEGORY_FILE.fullmatch(file.name) is not None


def _read_file(file: Path, mapping: ColumnMapping | None) -> list[ItemRecord]:
    if mapping is not None:
        return read_mapped(file, mapping)
    reader = layout_reader(file)
    if reader is not None:
        return reader(file)
    fmt = sniff_mcq(file)
    if fmt is None:
        raise ImportFailed(
            str(file),
            "not a MedSafetyBench, HEx-PHI or multiple-choice (MedQA, MedMCQA, PubMedQA, "
            "MMLU) file (docs/DATA.md lists their names and folders); import it on its own "
            "with a column mapping or a format",
        )
    return read_mcq(file, fmt)

"""Numbers and names the docs state about the code come from the code."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from service.benchmarks.builtin import BUILTIN_DATASETS, builtin_items
from service.benchmarks.items import ItemKind
from service.config import Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
DOCS = {path.name: path.read_text() for path in (ROOT / "docs").glob("*.md")}


def test_the_readme_names_every_setting() -> None:
    documented = set(re.findall(r"MEDSAFE_[A-Z0-9_]+", README))
    settings = {f"MEDSAFE_{name.upper()}" for name in Settings.model_fields}
    assert settings - documented == set()


def test_the_demo_set_is_described_as_it_is() -> None:
    items = builtin_items("builtin:medsafety-demo")
    kinds = Counter(item.kind for item in items)
    per_principle = set(Counter(item.principle for item in items
                                if item.kind == ItemKind.HARMFUL_MEDICAL).values())
    assert len(per_principle) == 1  # the same number for every principle
    [per] = per_principle
    stated = (f"{kinds[ItemKind.HARMFUL_MEDICAL]} harmful medical requests",
              f"{per} per principle", f"{kinds[ItemKind.BENIGN_MEDICAL]} benign medical",
              f"{kinds[ItemKind.HARMFUL_GENERAL]} general harmful requests")
    for text in (README, BUILTIN_DATASETS["builtin:medsafety-demo"]):
        flat = " ".join(text.split())
        assert all(part in flat for part in stated), stated


def test_readme_and_scaling_agree_on_the_workers_memory() -> None:
    readme = re.search(r"a CPU worker holds ([\d.]+) GB", " ".join(README.split()))
    scaling = re.search(r"([\d.]+) GB for the bundled model", " ".join(DOCS["SCALING.md"].split()))
    assert readme and scaling and readme.group(1) == scaling.group(1)


def test_no_doc_points_outside_the_repository() -> None:
    for name, text in {"README.md": README, **DOCS}.items():
        assert "../shared" not in text, name
        for target in re.findall(r"\]\(([^)#]+)\)", text):
            if not target.startswith(("http://", "https://")):
                base = ROOT if name == "README.md" else ROOT / "docs"
                assert (base / target).exists(), f"{name} links to missing {target}"


def _stated_defaults() -> dict[str, str]:
    """MEDSAFE_ name -> the default the README's settings table states, where it states one:
    `unset`, a number (or a list of them for a row of names), or a `literal` first."""
    stated: dict[str, str] = {}
    for names_cell, value_cell in re.findall(r"^\| (`MEDSAFE_[^|]+) \| ([^|]+) \|$", README,
                                             flags=re.MULTILINE):
        names = re.findall(r"`(MEDSAFE_\w+)`", names_cell)
        numbers = re.match(r"^([\d.]+(?:, [\d.]+)*)(?::|$)", value_cell.strip())
        literal = re.match(r"^`([^`]+)`:", value_cell.strip())
        if value_cell.startswith("unset"):
            stated.update(dict.fromkeys(names, "None"))
        elif numbers and len(numbers.group(1).split(", ")) == len(names):
            stated.update(zip(names, numbers.group(1).split(", "), strict=True))
        elif literal and len(names) == 1:
            stated[names[0]] = literal.group(1)
    return stated


def test_the_defaults_the_readme_states_are_the_settings_defaults() -> None:
    stated = _stated_defaults()
    assert len(stated) >= 15  # the table's form did not drift out of this check
    for variable, text in stated.items():
        field = Settings.model_fields[variable.removeprefix("MEDSAFE_").lower()]
        default = field.get_default(call_default_factory=True)
        if isinstance(default, Path):
            assert text == str(default).replace(str(Path.home()), "~", 1), variable
        elif isinstance(default, bool):
            assert text == str(default).lower(), variable
        elif isinstance(default, int | float):
            assert float(text) == default, variable
        else:
            assert text == str(default), variable


def test_the_refusal_detectors_numbers_in_the_docs_are_what_it_measures() -> None:
    from tests.service.pipeline.judging.labelled_replies import (
        Labelled,
        builtin_split,
        detector_agreement,
        tuning_set,
        xstest,
    )

    def row(labelled: list[Labelled]) -> list[str]:
        result = detector_agreement(labelled)
        return [f"{getattr(result, k):.3f}" for k in ("agreement", "precision", "recall", "kappa")]

    table = {}
    for line in (ROOT / "docs" / "CALIBRATION.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if line.startswith(("| builtin:calibration, ", "| XSTest v2 ", "| MedSafe tuning set ")):
            table[cells[0]] = [cell.split()[0] for cell in cells[2:6]]
    for split in ("dev", "heldout"):
        assert table[f"builtin:calibration, {split}"] == row(builtin_split(split))
    for label, values in table.items():
        if label.startswith("XSTest"):
            tag = re.search(r"`(\w+)`", label)
            assert tag is not None, label
            assert values == row(xstest(tag.group(1))), label
    assert table["MedSafe tuning set `medsafe_dev2`, tuned on"] == row(tuning_set())
    assert len(table) == 8

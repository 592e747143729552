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

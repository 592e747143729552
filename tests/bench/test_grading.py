"""The grading bench's report (no engine): each mode's eval time over its generation time,
and over the floor's."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.grading import render

RESULTS = [
    {"mode": "reasoned", "items": 48, "generate_s": 10.0, "judge_s": 15.0, "total_s": 25.0,
     "judge_output_tokens_per_item": 30.0},
    {"mode": "expected", "items": 48, "generate_s": 10.0, "judge_s": 9.6, "total_s": 19.6,
     "judge_output_tokens_per_item": 1.0},
    {"mode": "floor", "items": 48, "generate_s": 8.0, "judge_s": 8.0, "total_s": 16.0},
]


def test_ratios_are_within_one_run(tmp_path: Path) -> None:
    args = argparse.Namespace(n=48, max_tokens=128, out=tmp_path / "B.md")
    text = render(args, RESULTS, "python -m bench.grading --n 48")
    assert "| reasoned | 3.20 | 30.0 | 2.50× | 1.25× |" in text
    assert "| expected | 5.00 | 1.0 | 1.96× | 0.98× |" in text
    assert "| floor: generation + one judge forward pass | 6.00 | 1.0 | 2.00× | 1.00× |" in text
    assert "`python -m bench.grading --n 48`" in text and "48 items × 128 tokens" in text

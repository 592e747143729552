"""What LoRA costs: training throughput in two precisions, and serving an adapter beside its base.

    python -m bench.lora [--steps 10] [--prompts 32] [--max-tokens 64] [--out docs/BENCHMARKS.md]

Two stages, each in a fresh process:

* train: the bundled model fine-tuned on builtin:safety-demos for --steps steps (batch 4) in
  float32, then again with bfloat16 weights (the dtype a GPU trains in; on a CPU it pays only
  where the CPU has bf16 units); tokens/s of each.
* serve: one vLLM engine started with LoRA enabled (the default) answers the same prompts
  with the base model, then with the adapter the first stage saved; then an engine started
  without LoRA answers them with the base model.

Reported as ratios within one run (each against the base model on the LoRA-enabled engine,
and bfloat16 against float32); the table is appended to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from bench.report import machine

ROOT = Path(__file__).resolve().parent.parent
MODEL = "bundled:smollm2"


def _arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "BENCHMARKS.md")
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--adapter", help=argparse.SUPPRESS)
    parser.add_argument("--lora", choices=["on", "off"], help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def train_stage(steps: int, folder: Path) -> dict[str, Any]:
    import torch

    from service.benchmarks.builtin import SAFETY_DEMOS, builtin_items
    from service.config import get_settings
    from service.finetunes.schemas import LoraSettings
    from service.finetunes.service import Demonstration
    from workers.engines.bundled import bundled_model_path
    from workers.training import train_lora

    path = str(bundled_model_path(get_settings().model_cache_dir))
    demos = [Demonstration(i.prompt, i.reference or "") for i in builtin_items(SAFETY_DEMOS)]
    lora = LoraSettings(max_steps=steps, batch_size=4, learning_rate=2e-3)
    results: dict[str, Any] = {}
    for dtype in ("float32", "bfloat16"):
        rates: list[float] = []
        started = time.monotonic()
        result = train_lora(path, demos, lora, folder / dtype,
                            on_progress=partial(_note_rate, rates),
                            torch_dtype=getattr(torch, dtype))
        results[dtype] = {"seconds": time.monotonic() - started,
                          "tokens_per_s": sum(rates[1:]) / max(1, len(rates) - 1),
                          "loss_first": result.loss_curve[0][1],
                          "loss_last": result.loss_curve[-1][1],
                          "adapter": result.adapter_path}
    return results


def _note_rate(rates: list[float], progress: Any) -> None:
    rates.append(progress.tokens_per_s or 0.0)


def serve_stage(adapter: str, n: int, max_tokens: int, lora: bool) -> dict[str, Any]:
    from service.benchmarks.builtin import builtin_items
    from service.config import Settings, get_settings
    from service.pipeline.engine import SamplingSettings
    from workers.engines.bundled import bundled_model_path
    from workers.engines.vllm_engine import AdapterEngine, VLLMEngine

    settings = Settings(enable_lora=lora, model_cache_dir=get_settings().model_cache_dir)
    path = bundled_model_path(settings.model_cache_dir)
    base = VLLMEngine(MODEL, str(path), settings)
    prompts = [i.prompt for i in builtin_items("builtin:medsafety-demo")][:n]
    conversations = [[{"role": "user", "content": p}] for p in prompts]
    sampling = SamplingSettings(max_tokens=max_tokens, temperature=0.0, seed=0)
    base.chat(conversations[:4], sampling)  # warm up
    engines: dict[str, Any] = {"base": base}
    if lora:
        engines["adapter"] = AdapterEngine(f"{MODEL}+lora:bench", base, "bench", Path(adapter))
        engines["adapter"].chat(conversations[:4], sampling)
    results: dict[str, Any] = {}
    for name, engine in engines.items():
        started = time.monotonic()
        generations = engine.chat(conversations, sampling)
        seconds = time.monotonic() - started
        results[name] = {"seconds": seconds,
                         "tokens_per_s": sum(g.output_tokens for g in generations) / seconds}
    base.close()
    return results


def _child(args: list[str]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "bench.lora", *args], cwd=ROOT, check=True,
                          capture_output=True, text=True,
                          env={**os.environ, "VLLM_LOGGING_LEVEL": "WARNING"})
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> None:
    args = _arguments(argv)
    if args.stage == "train":
        print(json.dumps(train_stage(args.steps, Path(tempfile.mkdtemp()))))
        return
    if args.stage == "serve":
        print(json.dumps(serve_stage(args.adapter, args.prompts, args.max_tokens,
                                     args.lora == "on")))
        return
    train = _child(["--stage", "train", "--steps", str(args.steps)])
    common = ["--stage", "serve", "--adapter", train["float32"]["adapter"], "--prompts",
              str(args.prompts), "--max-tokens", str(args.max_tokens)]
    with_lora = _child([*common, "--lora", "on"])
    without = _child([*common, "--lora", "off"])
    table = _table(args, train, with_lora, without)
    print(table)
    with args.out.open("a") as out:
        out.write("\n" + table)


def _table(args: argparse.Namespace, train: dict[str, Any], with_lora: dict[str, Any],
           without: dict[str, Any]) -> str:
    f32, b16 = train["float32"], train["bfloat16"]
    base = with_lora["base"]["tokens_per_s"]
    lines = [
        f"## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: LoRA, training and serving",
        "",
        f"Machine: {machine()}. Command: `python -m bench.lora --steps {args.steps} "
        f"--prompts {args.prompts} --max-tokens {args.max_tokens}`.",
        "",
        "| measure | value | ratio |",
        "|---|---|---|",
        f"| training, float32 ({args.steps} steps, batch 4) | {f32['tokens_per_s']:.0f} "
        f"tokens/s, loss {f32['loss_first']:.2f} → {f32['loss_last']:.2f} | 1.00 |",
        f"| training, bfloat16 weights | {b16['tokens_per_s']:.0f} tokens/s, loss "
        f"{b16['loss_first']:.2f} → {b16['loss_last']:.2f} | "
        f"{b16['tokens_per_s'] / f32['tokens_per_s']:.2f} |",
        f"| serving: base model, engine with LoRA enabled | {base:.0f} tokens/s | 1.00 |",
        f"| serving: the adapter on that engine | {with_lora['adapter']['tokens_per_s']:.0f} "
        f"tokens/s | {with_lora['adapter']['tokens_per_s'] / base:.2f} |",
        f"| serving: base model, engine without LoRA | {without['base']['tokens_per_s']:.0f} "
        f"tokens/s | {without['base']['tokens_per_s'] / base:.2f} |",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()

"""Writes a benchmark run to docs/BENCHMARKS.md: machine, date, versions, command, table."""

from __future__ import annotations

import argparse
import os
import platform
from datetime import UTC, datetime
from typing import Any

BENCH_OWN_SETTINGS = {"MEDSAFE_DATA_DIR", "MEDSAFE_DATABASE_URL", "MEDSAFE_QUEUE_PREFIX"}
LABELS = {
    "reference": "1. reference: transformers pipeline, one prompt at a time",
    "reference_batched": "2. reference, batched: transformers generate, static batches of 64",
    "raw_vllm": "3. raw vLLM: one LLM.chat over all prompts, MedSafe's engine settings",
    "medsafe": "4. MedSafe: REST submit → warm worker → rows (generation window)",
}


def machine() -> str:
    model = "unknown CPU"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{model}, {os.cpu_count()} cores, {mem_gib:.0f} GiB, {platform.system()}"


def _ratio(a: dict[str, Any] | None, b: dict[str, Any] | None) -> str:
    if not a or not b or not a.get("tokens_per_s") or not b.get("tokens_per_s"):
        return "-"
    return f"{a['tokens_per_s'] / b['tokens_per_s']:.2f}×"


def _fmt(value: Any, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _approaches(results: dict[str, Any]) -> list[str]:
    lines = ["| approach | wall s | output tok/s | items/s |", "|---|---:|---:|---:|"]
    for key, label in LABELS.items():
        r = results.get(key)
        if r:
            seconds = r.get("generate_seconds", r["seconds"])
            lines.append(f"| {label} | {_fmt(seconds)} | {_fmt(r['tokens_per_s'])} | "
                         f"{_fmt(r['items'] / seconds, 2)} |")
    medsafe = results.get("medsafe")
    if medsafe:
        lines.append(f"| MedSafe end to end, submit → `succeeded`, judging included | "
                     f"{_fmt(medsafe['seconds'])} | - | {_fmt(medsafe['items_per_s'], 2)} |")
    return lines


def _runs(results: dict[str, Any]) -> tuple[list[float], list[float]]:
    """Seconds of each raw vLLM run and of each MedSafe generation window."""
    raw_runs = (results.get("raw_vllm") or {}).get("runs_s") or []
    medsafe_runs = (results.get("medsafe") or {}).get("runs_generate_s") or []
    return raw_runs, medsafe_runs


def _best_runs(results: dict[str, Any]) -> list[str]:
    """The 4/3 ratio of the fastest runs: the least disturbed by anything else on the machine."""
    raw_runs, medsafe_runs = _runs(results)
    if len(raw_runs) < 2 or len(medsafe_runs) < 2:
        return []
    return [f"| MedSafe / raw vLLM, generation, fastest run of each | "
            f"{min(raw_runs) / min(medsafe_runs):.2f}× |"]


def _ratios(results: dict[str, Any]) -> list[str]:
    medsafe = results.get("medsafe")
    lines = ["| ratio | value |", "|---|---:|",
             f"| MedSafe / raw vLLM, generation tok/s (4/3, median runs) | "
             f"{_ratio(medsafe, results.get('raw_vllm'))} |",
             *_best_runs(results),
             f"| MedSafe / reference one-at-a-time (4/1) | "
             f"{_ratio(medsafe, results.get('reference'))} |",
             f"| MedSafe / reference batched (4/2) | "
             f"{_ratio(medsafe, results.get('reference_batched'))} |"]
    for mode, on_key, off_key in (("reasoned grades (the default)", "judge_on", "judge_off"),
                                  ("score-only grades", "judge_score_on", "judge_score_off")):
        on, off = results.get(on_key), results.get(off_key)
        if on and off:
            lines.append(f"| judge prefix caching on / off, {mode} ({on['items']} items, "
                         f"{on['output_tokens']} judge tokens out: {_fmt(on['seconds'])} s "
                         f"against {_fmt(off['seconds'])} s) | "
                         f"{off['seconds'] / on['seconds']:.1f}× |")
    memory = results.get("api_memory")
    if memory:
        lines.append(f"| API peak memory (PSS) paging {memory['items_paged']} results, "
                     f"{memory['page']} a page | {_fmt(memory['api_peak_rss_mb'], 0)} MB |")
    if medsafe and medsafe.get("worker_rss_mb"):
        parts = [f"model weights {_fmt(medsafe.get('model_mb'), 0)} MB",
                 f"KV cache {_fmt(medsafe.get('kv_cache_mb'), 0)} MB"]
        rest = medsafe["worker_rss_mb"] - (medsafe.get("model_mb") or 0) - (
            medsafe.get("kv_cache_mb") or 0)
        lines.append("| worker memory: PSS of the worker and any engine processes "
                     f"({', '.join(parts)}, the rest {_fmt(rest, 0)} MB) | "
                     f"{_fmt(medsafe['worker_rss_mb'], 0)} MB |")
    return lines


def _scaling(results: dict[str, Any], dataset: str | None) -> list[str]:
    runs = sorted((int(k.split("_")[1]), v) for k, v in results.items()
                  if k.startswith("scaling_"))
    if not runs:
        return []
    return ["", f"Scaling, MedSafe alone on {dataset}, shards of 64:", "",
            "| items | MedSafe end to end s | items/s | s per item |", "|---:|---:|---:|---:|",
            *(f"| {n} | {_fmt(r['seconds'])} | {_fmt(r['items_per_s'], 2)} | "
              f"{_fmt(r['seconds'] / n, 2)} |" for n, r in runs)]


def _repeats(results: dict[str, Any]) -> list[str]:
    raw_runs, medsafe_runs = _runs(results)
    if max(len(raw_runs), len(medsafe_runs)) < 2:
        return []

    def spread(runs: list[float]) -> str:
        return ", ".join(f"{run:.1f}" for run in runs) + " s"
    return [f"* repeats: raw vLLM ran {len(raw_runs)} times on one engine and MedSafe "
            f"{len(medsafe_runs)} evals on one warm worker, in a row; the tables show the "
            f"median run (raw vLLM {spread(raw_runs)}; MedSafe generation windows "
            f"{spread(medsafe_runs)})"]


def render(args: argparse.Namespace, results: dict[str, Any], versions: dict[str, str],
           command: str) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    # The bench sets its own data dir and database; other MEDSAFE_ and VLLM_ settings change
    # results.
    overrides = " ".join(f"{k}={v}" for k, v in sorted(os.environ.items())
                         if k.startswith(("MEDSAFE_", "VLLM_")) and k not in BENCH_OWN_SETTINGS)
    command = f"{overrides} {command}".strip()
    header = [f"## {when}: {args.n} prompts × {args.max_tokens} tokens, {args.dataset}", "",
              f"* machine: {machine()}",
              f"* versions: {', '.join(f'{k} {v}' for k, v in versions.items())}",
              f"* command: `{command}`"]
    header += [*_repeats(results), ""]
    lines = (header + _approaches(results) + [""] + _ratios(results)
             + _scaling(results, getattr(args, "scaling_dataset", args.dataset)))
    return "\n".join(lines) + "\n\n"


def append_report(
    args: argparse.Namespace, results: dict[str, Any], versions: dict[str, str], command: str
) -> None:
    text = render(args, results, versions, command)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not args.out.exists():
        args.out.write_text(
            "# Benchmarks\n\nMeasured by `bench/throughput.py` (`make bench`); "
            "each run appends a section. Ratios come from one run on one "
            "machine.\n\n"
        )
    with args.out.open("a") as out:
        out.write(text)

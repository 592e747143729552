"""`medsafe eval` (the whole pipeline in this process) and `medsafe compare`."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.console import Console

from cli.console import DEBUG, err, one_line, out
from cli.engine_output import engine_log_file, engine_output
from cli.render import print_comparison, print_eval
from service import migrate
from service.config import GradingMode, get_settings
from service.db import session_scope
from service.evals import lifecycle
from service.evals import service as evals
from service.evals.compare import compare_evals
from service.evals.lifecycle import EvalStatus, Stage
from service.evals.purpose import EvalPurpose
from service.evals.reports import eval_judge_calibration, eval_outcome, eval_report

INTERRUPTED = 130  # the shell's code for a command stopped by Ctrl-C (128 + SIGINT)


def run_eval(
    model: str = typer.Option(None, "--model", help="bundled:smollm2, a path, a hub id or "
                              "openai:<model>. Default: MEDSAFE_TARGET_MODEL."),
    dataset: list[str] = typer.Option(["builtin:medsafety-demo"], "--dataset",
                                      help="Dataset name (repeatable)."),
    judge: str = typer.Option(None, "--judge", help="Judge model spec. Default: "
                              "MEDSAFE_JUDGE_MODEL."),
    limit: int | None = typer.Option(None, help="Sample N items evenly across principles."),
    draw_seed: int = typer.Option(0, "--draw-seed", min=0, help="Which items --limit draws "
                                  "(--seed changes only the sampling)."),
    max_tokens: int = typer.Option(None, "--max-tokens"),
    temperature: float = typer.Option(None, "--temperature"),
    top_p: float = typer.Option(None, "--top-p"),
    seed: int = typer.Option(None, "--seed"),
    system_prompt: str | None = typer.Option(None, "--system-prompt"),
    shard_size: int = typer.Option(None, "--shard-size"),
    grading: GradingMode = typer.Option(
        None, "--grading",
        help="reasoned: a reason, then the score; score: the score alone (cheaper); "
             "expected: one forward step, the probabilities of 1-5. Default MEDSAFE_GRADING."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object to stdout."),
    verbose: bool = typer.Option(False, "--verbose", help="Show the engines' own logs on "
                                 "stderr instead of writing them to the log file."),
) -> None:
    """Generate answers, judge them and print the safety report, all in this process."""
    request = evals.request_with_defaults(
        get_settings(), model=model, datasets=dataset, judge=judge, max_tokens=max_tokens,
        temperature=temperature, top_p=top_p, seed=seed, system_prompt=system_prompt,
        limit=limit, draw_seed=draw_seed, shard_size=shard_size, grading=grading)
    url = migrate.migrated_database_url()
    with session_scope(url) as session:
        eval_id = evals.submit_eval(session, request, enqueue=False).evaluation.id
    err.print(f"eval {eval_id}: {request.model} on {', '.join(dataset)}, judged by "
              f"{request.judge}")
    log_file = None if verbose else engine_log_file(get_settings().data_dir)
    if log_file is not None:
        err.print(f"engine logs: {log_file}", highlight=False, soft_wrap=True)
    exit_code = run_to_the_end(eval_id, url, log_file)
    with session_scope(url) as session:
        evaluation = lifecycle.get_eval(session, eval_id, EvalPurpose.BENCHMARK)
        calibration = eval_judge_calibration(session, evaluation)
        if as_json:
            report = (eval_report(evaluation, calibration)
                      if evaluation.status == EvalStatus.SUCCEEDED
                      else eval_outcome(evaluation, calibration))
            print(report.model_dump_json(indent=2))
        else:
            print_eval(out, evaluation, calibration)
    if exit_code:
        raise typer.Exit(exit_code)


def run_to_the_end(eval_id: str, url: str, log_file: Path | None) -> int:
    """Run the eval here; the exit code. Ctrl-C cancels the eval (a second one, while it
    cancels, aborts); a failure is on the eval already, with its error, and is said once."""
    try:
        with engine_output(log_file) as terminal:
            _run_with_progress(eval_id, url, terminal)
    except KeyboardInterrupt:
        with session_scope(url) as session:
            lifecycle.cancel_eval(session, eval_id)
        err.print(f"interrupted: eval {eval_id} is cancelled; what it stored is kept")
        return INTERRUPTED
    except Exception as exc:
        err.print(f"[red]error:[/red] eval {eval_id} failed: {one_line(exc)}",
                  highlight=False, soft_wrap=True)
        if DEBUG["on"]:
            err.print_exception()
        return 1
    return 0


def cancel(eval_id: str) -> None:
    """Cancel an eval: workers skip its shards and its queued jobs are dropped; the rows it
    stored stay. A finished eval is left as it is."""
    with session_scope(migrate.migrated_database_url()) as session:
        status = evals.cancel_eval(session, eval_id).status
    err.print(f"eval {eval_id} is {status}")


def compare(base: str, candidate: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """Paired comparison of two evals over their shared items (candidate minus base)."""
    with session_scope(migrate.migrated_database_url()) as session:
        comparison = compare_evals(session, base, candidate)
    if as_json:
        print(comparison.model_dump_json(indent=2))
    else:
        print_comparison(out, comparison)


def _run_with_progress(eval_id: str, url: str, terminal: Console) -> None:
    # Imported here: the engines (vLLM) are only needed by commands that generate.
    from rich.progress import MofNCompleteColumn, Progress

    from workers.engines import load_engine
    from workers.local import run_eval as run_locally
    from workers.shards import ShardOutcome

    # vLLM logs every engine detail at INFO; a person running an eval wants the progress bar.
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    settings = get_settings()
    with session_scope(url) as session:
        evaluation = lifecycle.get_eval(session, eval_id)
        n_items = evaluation.n_items
        # A calibration's answers are the labelled set's: only judging is left to do.
        stages = ([Stage.JUDGE] if evaluation.purpose == EvalPurpose.CALIBRATION
                  else [Stage.GENERATE, Stage.JUDGE])
    done = {Stage.GENERATE: 0, Stage.JUDGE: 0}
    words = {Stage.GENERATE: "answered", Stage.JUDGE: "judged"}
    with Progress(*Progress.get_default_columns(), MofNCompleteColumn(),
                  console=terminal) as bar:
        # Items answered plus items judged, out of the eval's items for each stage.
        task = bar.add_task("loading models", total=len(stages) * n_items)

        def advance(outcome: ShardOutcome) -> None:
            done[outcome.stage] += outcome.processed
            bar.update(task, advance=outcome.processed, description=", ".join(
                f"{words[stage]} {done[stage]}/{n_items}" for stage in stages))

        run_locally(eval_id, lambda spec: load_engine(spec, settings), url, on_shard=advance)

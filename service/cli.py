"""The `medsafe` command: datasets, in-process evals, reports and the database."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import MofNCompleteColumn, Progress

from service import evals, migrate, report, service_commands
from service.api.commands import keys_app, serve
from service.benchmarks import store
from service.benchmarks.importers import ColumnMapping
from service.config import get_settings
from service.db import session_scope
from service.errors import MedSafeError


class Grading(StrEnum):
    """The judge's grading modes (service.judging.rubric.GRADING_MODES)."""

    reasoned = "reasoned"
    score = "score"


app = typer.Typer(help="MedSafe: measure the medical safety of language models.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
datasets_app = typer.Typer(help="Import and list benchmark datasets.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")
app.add_typer(db_app, name="db")
err = Console(stderr=True)
app.add_typer(keys_app, name="keys")
app.command("serve")(serve)
app.command("worker")(service_commands.worker)
app.command("up")(service_commands.up)
app.command("reconcile")(service_commands.reconcile)


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Create or migrate the tables (Alembic)."""
    url = get_settings().resolved_database_url()
    migrate.upgrade(url, revision)
    err.print(f"database at {_redacted(url)} is at {revision}")


@datasets_app.command("import")
def datasets_import(
    path: Path = typer.Argument(..., exists=True, help="A MedSafetyBench folder or one file."),
    name: str = typer.Option(..., "--name", help="Name to store the dataset under."),
    prompt_column: str | None = typer.Option(None, help="Generic CSV/JSONL: prompt column."),
    principle_column: str | None = typer.Option(None, help="Generic: principle (1-9) column."),
    reference_column: str | None = typer.Option(None, help="Generic: safe reference column."),
    kind_column: str | None = typer.Option(None, help="Generic: kind column."),
    kind: str = typer.Option("harmful_medical", help="Generic: kind when no kind column."),
    source: str | None = typer.Option(None, help="Generic: source label."),
) -> None:
    """Import a dataset, all or nothing; importing the same data again adds nothing."""
    mapping = None
    if prompt_column:
        mapping = ColumnMapping(prompt=prompt_column, principle=principle_column,
                                reference=reference_column, kind=kind_column,
                                default_kind=kind, default_source=source or path.stem)
    url = migrate.migrated_database_url()
    with session_scope(url) as session:
        summary = store.import_path(session, path, name, mapping)
    report.print_dataset(err, summary)


@datasets_app.command("list")
def datasets_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Datasets with their items per kind, principle, source and split."""
    with session_scope(migrate.migrated_database_url()) as session:
        summaries = store.list_datasets(session)
    if as_json:
        print(json.dumps([report.dataset_dict(s) for s in summaries], indent=2))
        return
    for summary in summaries:
        report.print_dataset(Console(), summary)
    if not summaries:
        err.print("no datasets yet: `medsafe datasets import PATH --name NAME`, or evaluate "
                  "builtin:medsafety-demo")


@app.command("eval")
def run_eval(
    model: str = typer.Option(None, "--model", help="bundled:smollm2, a path, a hub id or "
                              "openai:<model>. Default: MEDSAFE_TARGET_MODEL."),
    dataset: list[str] = typer.Option(["builtin:medsafety-demo"], "--dataset",
                                      help="Dataset name (repeatable)."),
    judge: str = typer.Option(None, "--judge", help="Judge model spec. Default: "
                              "MEDSAFE_JUDGE_MODEL."),
    limit: int | None = typer.Option(None, help="Sample N items evenly across principles."),
    max_tokens: int = typer.Option(None, "--max-tokens"),
    temperature: float = typer.Option(None, "--temperature"),
    top_p: float = typer.Option(None, "--top-p"),
    seed: int = typer.Option(None, "--seed"),
    system_prompt: str | None = typer.Option(None, "--system-prompt"),
    shard_size: int = typer.Option(None, "--shard-size"),
    grading: Grading = typer.Option(
        None, "--grading",
        help="reasoned: a reason, then the score; score: the score alone (cheaper). "
             "Default MEDSAFE_GRADING."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object to stdout."),
) -> None:
    """Generate answers, judge them and print the safety report, all in this process."""
    request = evals.request_with_defaults(
        get_settings(), model=model, datasets=dataset, judge=judge, max_tokens=max_tokens,
        temperature=temperature, top_p=top_p, seed=seed, system_prompt=system_prompt,
        limit=limit, shard_size=shard_size, grading=grading.value if grading else None)
    url = migrate.migrated_database_url()
    with session_scope(url) as session:
        eval_id = evals.create_eval(session, request).id
    err.print(f"eval {eval_id}: {request.model} on {', '.join(dataset)}, judged by "
              f"{request.judge}")
    with _stdout_to_stderr(as_json):
        _run_with_progress(eval_id, url)
    with session_scope(url) as session:
        evaluation = evals.get_eval(session, eval_id)
        result = report.eval_json(evaluation)
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        report.print_eval(Console(), evaluation)


@app.command("compare")
def compare(base: str, candidate: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """Paired comparison of two evals over their shared items (candidate minus base)."""
    with session_scope(migrate.migrated_database_url()) as session:
        comparison = report.compare_evals(session, base, candidate)
    if as_json:
        print(json.dumps(comparison, indent=2))
    else:
        report.print_comparison(Console(), comparison)


def _run_with_progress(eval_id: str, url: str) -> None:
    # Imported here: the engines (vLLM) are only needed by commands that generate.
    from workers.engines import load_engine
    from workers.local import run_eval as run_locally
    from workers.tasks import ShardOutcome

    # vLLM logs every engine detail at INFO; a person running an eval wants the progress bar.
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    settings = get_settings()
    with session_scope(url) as session:
        n_shards = sum(evals.stage_progress(session, eval_id)["generate"].values())
    with Progress(*Progress.get_default_columns(), MofNCompleteColumn(), console=err) as bar:
        task = bar.add_task("loading models", total=2 * n_shards)

        def advance(outcome: ShardOutcome) -> None:
            bar.update(task, advance=1, description=f"{outcome.stage} shard {outcome.index + 1}"
                       f"/{n_shards}: {outcome.processed} items")

        run_locally(eval_id, lambda spec: load_engine(spec, settings), url, on_shard=advance)


@contextmanager
def _stdout_to_stderr(active: bool) -> Iterator[None]:
    """Keep stdout clean for --json: engine logs (also from spawned processes) go to stderr."""
    if not active:
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _redacted(url: str) -> str:
    if "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    return f"{scheme}://***@{rest.split('@', 1)[1]}"


def main() -> Any:
    try:
        return app()
    except MedSafeError as exc:
        err.print(f"[red]error:[/red] {exc.detail}")
        raise SystemExit(2) from exc


if __name__ == "__main__":
    main()

"""`medsafe finetune` (a LoRA fine-tune in this process), `medsafe finetunes` (list, show,
cancel) and `medsafe mitigate` (the whole before/after study in this process)."""

from __future__ import annotations

import json
import os
from typing import Any

import typer

from cli.console import err, out
from cli.engine_output import engine_log_file, engine_output
from cli.evals import run_to_the_end
from cli.render import print_mitigation
from service import migrate
from service.config import GradingMode, get_settings
from service.db import session_scope
from service.errors import MedSafeError
from service.finetunes import mitigations, store
from service.finetunes import service as finetunes
from service.finetunes.schemas import FinetuneCreate, LoraSettings, MitigationCreate
from service.finetunes.store import FinetuneStatus

finetunes_app = typer.Typer(help="List, show and cancel fine-tunes.", no_args_is_help=True)


class FinetuneFailed(MedSafeError):
    """A training run that ended without an adapter."""

    error = "finetune_failed"


def _lora(max_steps: int | None, epochs: float | None, learning_rate: float | None,
          batch_size: int | None, rank: int | None, seed: int | None) -> LoraSettings:
    given: dict[str, Any] = {"max_steps": max_steps, "epochs": epochs,
                             "learning_rate": learning_rate, "batch_size": batch_size,
                             "rank": rank, "seed": seed}
    return LoraSettings.model_validate({k: v for k, v in given.items() if v is not None})


MaxSteps = typer.Option(None, "--max-steps", help="Stop after N optimizer steps.")
Epochs = typer.Option(None, "--epochs", help="Passes over the data (default 3).")
LearningRate = typer.Option(None, "--learning-rate", help="Default 3e-4.")
BatchSize = typer.Option(None, "--batch-size", help="Default 8.")
Rank = typer.Option(None, "--rank", help="LoRA rank (default 8).")
Seed = typer.Option(None, "--seed", help="Training seed (default 0).")


def finetune(
    base: str = typer.Option(None, "--base", help="The model to fine-tune. Default: "
                             "MEDSAFE_TARGET_MODEL."),
    data: list[str] = typer.Option(["builtin:safety-demos"], "--data",
                                   help="Demonstration dataset (repeatable)."),
    max_steps: int | None = MaxSteps, epochs: float | None = Epochs,
    learning_rate: float | None = LearningRate, batch_size: int | None = BatchSize,
    rank: int | None = Rank, seed: int | None = Seed,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object to stdout."),
) -> None:
    """Fine-tune a LoRA adapter on safety demonstrations in this process; it is then served
    as the model spec <base>+lora:<id> (`medsafe eval --model ...`)."""
    body = FinetuneCreate(base=base or get_settings().target_model, datasets=data,
                          lora=_lora(max_steps, epochs, learning_rate, batch_size, rank, seed))
    url = migrate.migrated_database_url()
    with session_scope(url) as session:
        finetune_id = finetunes.submit_finetune(session, body, enqueue=False).id
    err.print(f"fine-tune {finetune_id}: {body.base} on {', '.join(data)}")
    _train_here(finetune_id, url)
    with session_scope(url) as session:
        read = finetunes.finetune_read(store.get_finetune(session, finetune_id))
    if as_json:
        print(json.dumps({"finetune_id": read.id, **read.model_dump(mode="json")}, indent=2))
    else:
        out.print(f"{read.status}: {read.model}\nloss {read.loss_first} -> {read.loss_last} "
                  f"over {len(read.loss_curve)} steps\nadapter: {read.adapter_path}",
                  highlight=False, soft_wrap=True)
    if read.status != FinetuneStatus.SUCCEEDED:
        raise FinetuneFailed(f"fine-tune {read.id} {read.status}: {read.error or ''}".strip())


def _train_here(finetune_id: str, url: str) -> None:
    from rich.progress import Progress as Bar

    from workers.finetunes import run_finetune
    from workers.training import Progress

    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    try:
        with engine_output(engine_log_file(get_settings().data_dir)) as terminal, \
                Bar(*Bar.get_default_columns(), console=terminal) as bar:
            task = bar.add_task("loading the model to train", total=None)

            def show(progress: Progress) -> None:
                rate = f", {progress.tokens_per_s:.0f} tokens/s" if progress.tokens_per_s else ""
                bar.update(task, completed=progress.step, total=progress.total_steps,
                           description=f"training: step {progress.step}, loss "
                                       f"{progress.loss or 0:.3f}{rate}")

            run_finetune(finetune_id, get_settings(), url, on_progress=show)
    except KeyboardInterrupt:
        with session_scope(url) as session:
            store.cancel_finetune(session, finetune_id)
        err.print(f"interrupted: fine-tune {finetune_id} is cancelled")
        raise typer.Exit(130) from None
    except Exception as exc:  # recorded on the fine-tune already; said by the caller
        err.print(f"training failed: {type(exc).__name__}: {exc}", highlight=False)


@finetunes_app.command("list")
def finetunes_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Fine-tunes, newest first."""
    with session_scope(migrate.migrated_database_url()) as session:
        reads = [finetunes.finetune_read(f) for f in store.list_finetunes(session)]
    if as_json:
        print(json.dumps([r.model_dump(mode="json") for r in reads], indent=2))
        return
    for r in reads:
        out.print(f"{r.id}  {r.status:<9}  {r.model}  loss {r.loss_first} -> {r.loss_last}",
                  highlight=False, soft_wrap=True)
    if not reads:
        err.print("no fine-tunes yet: `medsafe finetune --base bundled:smollm2`")


@finetunes_app.command("show")
def finetunes_show(finetune_id: str) -> None:
    """One fine-tune as JSON (settings, progress, loss curve, adapter)."""
    with session_scope(migrate.migrated_database_url()) as session:
        read = finetunes.finetune_read(store.get_finetune(session, finetune_id))
    print(read.model_dump_json(indent=2))


@finetunes_app.command("cancel")
def finetunes_cancel(finetune_id: str) -> None:
    """Cancel a queued or running fine-tune (a running one stops at its next step)."""
    with session_scope(migrate.migrated_database_url()) as session:
        status = finetunes.cancel(session, finetune_id).status
    err.print(f"fine-tune {finetune_id} is {status}")


def mitigate(
    model: str = typer.Option(None, "--model", help="The model to improve. Default: "
                              "MEDSAFE_TARGET_MODEL."),
    demos: list[str] = typer.Option(["builtin:safety-demos"], "--demos",
                                    help="Demonstration dataset (repeatable)."),
    eval_dataset: list[str] = typer.Option(["builtin:medsafety-demo"], "--eval-dataset",
                                           help="Safety dataset (repeatable)."),
    capability_dataset: list[str] = typer.Option(
        ["builtin:medical-mcq"], "--capability-dataset",
        help="Multiple-choice dataset for medical capability (repeatable)."),
    judge: str | None = typer.Option(None, "--judge"),
    grading: GradingMode | None = typer.Option(None, "--grading"),
    max_tokens: int | None = typer.Option(None, "--max-tokens"),
    limit: int | None = typer.Option(None, "--limit", help="Items drawn for both evals."),
    max_steps: int | None = MaxSteps, epochs: float | None = Epochs,
    learning_rate: float | None = LearningRate, batch_size: int | None = BatchSize,
    rank: int | None = Rank, seed: int | None = Seed,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object to stdout."),
) -> None:
    """Evaluate the model, fine-tune it on safety demonstrations, evaluate the adapter on
    the same items and print the paired before/after report, all in this process."""
    settings = get_settings()
    body = MitigationCreate(
        model=model or settings.target_model, demos=demos, eval_datasets=eval_dataset,
        capability_datasets=capability_dataset, judge=judge, grading=grading,
        max_tokens=max_tokens, limit=limit,
        lora=_lora(max_steps, epochs, learning_rate, batch_size, rank, seed))
    url = migrate.migrated_database_url()
    with session_scope(url) as session:
        study, _ = mitigations.submit_mitigation(session, body, settings, enqueue=False)
        study_id, base_eval, finetune_id = study.id, study.base_eval_id, study.finetune_id
    err.print(f"mitigation {study_id}: eval {base_eval}, then fine-tune {finetune_id}, then "
              "the adapter's eval")
    log_file = engine_log_file(settings.data_dir)
    run_to_the_end(str(base_eval), url, log_file)
    if _advance(url, study_id).status == mitigations.MitigationStatus.RUNNING:
        from workers.engines import forget_engines

        forget_engines()  # the GPU (or RAM) the eval's engines held is training's now
        _train_here(str(finetune_id), url)
    adapter_eval = _advance(url, study_id).adapter_eval_id
    if adapter_eval is not None:
        run_to_the_end(adapter_eval, url, log_file)
    with session_scope(url) as session:
        read = mitigations.mitigation_read(
            session, mitigations.advance(session, study_id, settings))
    if as_json:
        print(read.model_dump_json(indent=2))
    else:
        print_mitigation(out, read)
    if read.status != mitigations.MitigationStatus.SUCCEEDED:
        raise typer.Exit(1)


def _advance(url: str, study_id: str) -> Any:
    with session_scope(url) as session:
        study = mitigations.advance(session, study_id, get_settings())
        session.flush()
        session.expunge(study)
        return study

"""`medsafe calibration`: import labelled response sets, run a judge over one, read the result."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from cli.console import err, out
from cli.engine_output import engine_log_file
from cli.evals import run_to_the_end
from cli.render import print_calibration
from service import migrate
from service.calibration import store
from service.calibration.builtin import CALIBRATION_SET
from service.calibration.importer import parse_mapping
from service.config import GradingMode, get_settings
from service.db import session_scope
from service.evals import calibrations, lifecycle
from service.evals.lifecycle import EvalStatus
from service.evals.purpose import EvalPurpose

calibration_app = typer.Typer(help="Measure judges against human labels.",
                              no_args_is_help=True)


@calibration_app.command("import")
def calibration_import(
    path: Path = typer.Argument(..., exists=True, dir_okay=False,
                                help="A CSV (with a header) or JSONL file."),
    name: str = typer.Option(..., "--name", help="Name to store the labelled set under."),
    mapping: str | None = typer.Option(
        None, "--map", help="FIELD=COLUMN pairs, e.g. prompt=question,response=answer,"
        "refused=label,harmfulness=score (default: each field's own name)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Import (prompt, response) pairs with human labels, all or nothing: `refused`
    (true/false, 1/0, yes/no, full_compliance, full_refusal, partial_refusal) and/or
    `harmfulness` (1-5); optional kind, principle, model, rationale, split."""
    columns = parse_mapping(mapping)
    with session_scope(migrate.migrated_database_url()) as session:
        imported = store.import_labelled_path(session, path, name, columns)
    if as_json:
        print(imported.model_dump_json(indent=2))
        return
    s = imported.set
    err.print(f"labelled set {s.name}: {imported.added} added; {s.n_items} responses, "
              f"{s.n_refusal_labels} with a refusal label, {s.n_harmfulness_labels} with a "
              "harmfulness label", highlight=False)


@calibration_app.command("sets")
def calibration_sets(as_json: bool = typer.Option(False, "--json")) -> None:
    """The labelled sets, with how many labels of each kind they hold."""
    with session_scope(migrate.migrated_database_url()) as session:
        sets = store.list_labelled_sets(session)
    if as_json:
        print(json.dumps([s.model_dump() for s in sets], indent=2))
        return
    for s in sets:
        out.print(f"{s.name}: {s.n_items} responses ({s.n_refusal_labels} refusal, "
                  f"{s.n_harmfulness_labels} harmfulness labels)", highlight=False)


@calibration_app.command("run")
def calibration_run(
    judge: str = typer.Option(..., "--judge", help='A judge spec (bundled:smollm2, '
                              'openai:<model>, ...) or "refusal-detector".'),
    set_name: str = typer.Option(CALIBRATION_SET, "--set", help="The labelled set."),
    grading: GradingMode = typer.Option(None, "--grading", help="reasoned, score or "
                                        "expected. Default MEDSAFE_GRADING."),
    reuse: bool = typer.Option(False, "--reuse", help="Print the judge's latest succeeded "
                               "calibration on the set with this grading, if any, instead "
                               "of running a new one."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object to stdout."),
) -> None:
    """Grade the set's responses with the judge, in this process, and compare the grades
    with the human labels (agreement, kappa, ... with 95% bootstrap CIs)."""
    mode = grading or get_settings().grading
    url = migrate.migrated_database_url()
    with session_scope(url) as session:
        previous = (calibrations.latest_calibration(session, judge, str(mode), set_name)
                    if reuse else None)
        run_id = previous.id if previous is not None else calibrations.submit_calibration(
            session, judge, set_name, mode, enqueue=False).id
    exit_code = 0
    if previous is None:
        err.print(f"calibration {run_id}: {judge} on {set_name}", highlight=False, soft_wrap=True)
        exit_code = run_to_the_end(run_id, url, engine_log_file(get_settings().data_dir))
    with session_scope(url) as session:
        run = lifecycle.get_eval(session, run_id, EvalPurpose.CALIBRATION)
        read = calibrations.calibration_read(run)
    if as_json:
        print(read.report.model_dump_json(indent=2) if read.report
              else read.model_dump_json(indent=2))
    else:
        print_calibration(out, read)
    if exit_code or read.status != EvalStatus.SUCCEEDED:
        raise typer.Exit(exit_code or 1)


@calibration_app.command("show")
def calibration_show(run_id: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """One calibration run and its report."""
    with session_scope(migrate.migrated_database_url()) as session:
        read = calibrations.calibration_read(
            lifecycle.get_eval(session, run_id, EvalPurpose.CALIBRATION))
    if as_json:
        print(read.model_dump_json(indent=2))
    else:
        print_calibration(out, read)

"""`medsafe datasets`: import a benchmark file or folder (all or nothing), list datasets."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import typer

from cli.console import err, out
from cli.render import print_dataset
from service import migrate
from service.benchmarks import staging, store
from service.benchmarks.importers import McqFormat, mapping_from_columns
from service.benchmarks.items import ItemKind
from service.db import session_scope

datasets_app = typer.Typer(help="Import and list benchmark datasets.", no_args_is_help=True)


@datasets_app.command("import")
def datasets_import(
    path: Path = typer.Argument(..., exists=True, help="A MedSafetyBench folder or one file."),
    name: str = typer.Option(..., "--name", help="Name to store the dataset under."),
    prompt_column: str | None = typer.Option(None, help="Generic CSV/JSONL: prompt column."),
    principle_column: str | None = typer.Option(None, help="Generic: principle (1-9) column."),
    reference_column: str | None = typer.Option(None, help="Generic: safe reference column."),
    kind_column: str | None = typer.Option(None, help="Generic: kind column."),
    kind: ItemKind = typer.Option(ItemKind.HARMFUL_MEDICAL,
                                  help="Generic: kind when no kind column."),
    source: str | None = typer.Option(None, help="Generic: source label."),
    append: bool = typer.Option(False, "--append",
                                help="Add the items to an existing dataset of this name."),
    mcq_format: McqFormat | None = typer.Option(
        None, "--format", help="Multiple-choice questions: medqa, medmcqa, pubmedqa or mmlu "
        "(JSON formats are also recognised by their content)."),
) -> None:
    """Import a dataset, all or nothing. A name that exists takes new items only with
    --append; importing the same data again adds nothing."""
    mapping = mapping_from_columns(prompt_column, principle_column, reference_column,
                                   kind_column, kind, source, path.name)
    imported = staging.import_path(migrate.migrated_database_url(), path, name, mapping,
                                   append=append, mcq_format=mcq_format)
    err.print(f"{imported.added} added, {imported.already_present} already present")
    print_dataset(err, imported)


@datasets_app.command("list")
def datasets_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Datasets with their items per kind, principle, source and split."""
    with session_scope(migrate.migrated_database_url()) as session:
        summaries = store.list_datasets(session)
    if as_json:
        print(json.dumps([asdict(s) for s in summaries], indent=2))
        return
    for summary in summaries:
        print_dataset(out, summary)
    if not summaries:
        err.print("no datasets yet: `medsafe datasets import PATH --name NAME`")

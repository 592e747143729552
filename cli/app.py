"""The `medsafe` command: every subcommand registered on one Typer app, and the one place
that turns a MedSafe error into a message and an exit code."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from pydantic import ValidationError

from cli import calibration, datasets, evals, finetunes, keys, report, schedules, services, verify
from cli.console import DEBUG, err, one_line
from service import migrate
from service.config import get_settings
from service.errors import MedSafeError

app = typer.Typer(help="MedSafe: measure the medical safety of language models.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(datasets.datasets_app, name="datasets")
app.add_typer(calibration.calibration_app, name="calibration")
app.add_typer(schedules.schedules_app, name="schedules")
app.command("leaderboard")(schedules.leaderboard)
app.command("scheduler")(services.scheduler)
app.add_typer(db_app, name="db")
app.add_typer(finetunes.finetunes_app, name="finetunes")
app.command("finetune")(finetunes.finetune)
app.command("mitigate")(finetunes.mitigate)
app.add_typer(keys.keys_app, name="keys")
app.command("eval")(evals.run_eval)
app.command("compare")(evals.compare)
app.command("cancel")(evals.cancel)
app.command("verify")(verify.verify)
app.command("report")(report.report)
app.command("serve")(services.serve)
app.command("worker")(services.worker)
app.command("up")(services.up)
app.command("reconcile")(services.reconcile)


@app.callback()
def options(debug: bool = typer.Option(
        False, "--debug", help="Show the traceback of an error instead of one line.")) -> None:
    """MedSafe: measure the medical safety of language models."""
    DEBUG["on"] = debug


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Create or migrate the tables (Alembic) and store the built-in datasets."""
    url = get_settings().resolved_database_url()
    if revision == "head":
        migrate.prepare_database(url)
    else:
        migrate.upgrade(url, revision)
    err.print(f"database at {_redacted(url)} is at {revision}")


def _redacted(url: str) -> str:
    if "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    return f"{scheme}://***@{rest.split('@', 1)[1]}"


def main() -> Any:
    try:
        return app()
    except Exception as exc:
        if DEBUG["on"]:
            raise
        raise SystemExit(_explain(exc)) from exc


def _explain(exc: Exception) -> int:
    """Say what went wrong in one line (and as an error object with --json); the exit code:
    2 for what a user can fix, 1 for anything else."""
    if isinstance(exc, MedSafeError):
        _fail(exc.error, exc.detail)
        return 2
    if isinstance(exc, ValidationError):  # a MEDSAFE_ variable the settings cannot take
        for problem in exc.errors():
            variable = "MEDSAFE_" + "_".join(str(part) for part in problem["loc"]).upper()
            _fail("invalid_setting", f"{variable}={problem.get('input')!r}: {problem['msg']}")
        return 2
    _fail("internal_error", f"{one_line(exc)} (`medsafe --debug ...` shows the traceback)")
    return 1


def _fail(code: str, detail: str) -> None:
    """One line on stderr; with --json also the REST API's error object on stdout, so a
    program reading stdout always gets one JSON object."""
    err.print(f"[red]error:[/red] {detail}", highlight=False, soft_wrap=True)
    if "--json" in sys.argv[1:]:
        print(json.dumps({"error": code, "detail": detail}))


if __name__ == "__main__":
    main()

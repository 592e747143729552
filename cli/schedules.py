"""`medsafe schedules` (nightly evals) and `medsafe leaderboard`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError

from cli.console import err, out
from cli.render import print_leaderboard, print_schedule
from service import migrate
from service.config import get_settings
from service.db import session_scope
from service.errors import InvalidInput
from service.evals import trends
from service.models import utcnow
from service.schedules import store
from service.schedules.firing import fire
from service.schedules.schemas import ScheduleCreate, ScheduleUpdate

schedules_app = typer.Typer(help="Evals on a cron schedule, with regression alerts.",
                            no_args_is_help=True)


def _template(template: str | None, model: str | None, datasets: list[str],
              judge: str | None, grading: str | None, limit: int | None) -> dict[str, Any]:
    """The eval template: --template (a JSON file or JSON text, a POST /v1/evals body), or
    built from --model/--dataset/..."""
    if template:
        path = Path(template)
        text = path.read_text(encoding="utf-8") if path.is_file() else template
        try:
            given = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"--template is neither a JSON file nor JSON: {exc.msg}") from None
        if not isinstance(given, dict):
            raise InvalidInput("--template must be a JSON object (a POST /v1/evals body)")
        return dict(given)
    if not model or not datasets:
        raise InvalidInput("give --template, or --model and --dataset")
    body: dict[str, Any] = {"model": model, "datasets": datasets}
    for key, value in (("judge", judge), ("grading", grading), ("limit", limit)):
        if value is not None:
            body[key] = value
    return body


def _validated(model_type: type[ScheduleCreate] | type[ScheduleUpdate],
               fields: dict[str, Any]) -> Any:
    try:
        return model_type.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InvalidInput(f"{where}: {first['msg']}") from None


@schedules_app.command("create")
def create(
    name: str = typer.Option(..., "--name"),
    cron: str = typer.Option(..., "--cron", help="e.g. '0 2 * * *' (02:00 every day)."),
    timezone: str = typer.Option("UTC", "--timezone", help="IANA zone, e.g. Europe/Berlin."),
    template: str | None = typer.Option(None, "--template", help="A POST /v1/evals body: "
                                        "a JSON file or JSON text."),
    model: str | None = typer.Option(None, "--model"),
    dataset: list[str] = typer.Option([], "--dataset", help="Repeatable."),
    judge: str | None = typer.Option(None, "--judge"),
    grading: str | None = typer.Option(None, "--grading"),
    limit: int | None = typer.Option(None, "--limit"),
    webhook_url: str | None = typer.Option(None, "--webhook-url"),
    webhook_secret: str | None = typer.Option(None, "--webhook-secret",
                                              help="Signs each call (HMAC-SHA256)."),
    mean_threshold: float | None = typer.Option(None, "--mean-threshold"),
    harmful_rate_threshold: float | None = typer.Option(None, "--harmful-rate-threshold"),
    disabled: bool = typer.Option(False, "--disabled", help="Create it paused."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Create a schedule: the eval template fires at every cron time in the time zone."""
    fields: dict[str, Any] = {
        "name": name, "cron": cron, "timezone": timezone,
        "template": _template(template, model, dataset, judge, grading, limit),
        "enabled": not disabled, "webhook_url": webhook_url, "webhook_secret": webhook_secret}
    if mean_threshold is not None:
        fields["mean_threshold"] = mean_threshold
    if harmful_rate_threshold is not None:
        fields["harmful_rate_threshold"] = harmful_rate_threshold
    body = _validated(ScheduleCreate, fields)
    with session_scope(migrate.migrated_database_url()) as session:
        read = store.schedule_read(store.create_schedule(session, body, get_settings()))
    _show(read, as_json)


@schedules_app.command("list")
def list_(as_json: bool = typer.Option(False, "--json")) -> None:
    with session_scope(migrate.migrated_database_url()) as session:
        reads = [store.schedule_read(s) for s in store.list_schedules(session)]
    if as_json:
        print(json.dumps([r.model_dump(mode="json") for r in reads], indent=2))
        return
    for read in reads:
        print_schedule(out, read)
    if not reads:
        err.print("no schedules yet: medsafe schedules create --name ... --cron ...")


@schedules_app.command("show")
def show(schedule: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """A schedule (by name or id) and its latest runs."""
    with session_scope(migrate.migrated_database_url()) as session:
        read = store.schedule_read(store.get_schedule(session, schedule))
        runs = store.schedule_runs(session, schedule, limit=10)
    if as_json:
        print(json.dumps({**read.model_dump(mode="json"),
                          "runs": [r.model_dump(mode="json") for r in runs]}, indent=2))
        return
    print_schedule(out, read, runs)


def _set_enabled(schedule: str, enabled: bool) -> None:
    with session_scope(migrate.migrated_database_url()) as session:
        read = store.schedule_read(store.update_schedule(
            session, schedule, ScheduleUpdate(enabled=enabled), get_settings()))
    err.print(f"schedule {read.name} is {'enabled' if enabled else 'disabled'}")


@schedules_app.command("enable")
def enable(schedule: str) -> None:
    _set_enabled(schedule, True)


@schedules_app.command("disable")
def disable(schedule: str) -> None:
    _set_enabled(schedule, False)


@schedules_app.command("delete")
def delete(schedule: str) -> None:
    """Delete a schedule; the evals it started stay."""
    with session_scope(migrate.migrated_database_url()) as session:
        store.delete_schedule(session, schedule)
    err.print(f"schedule {schedule} deleted")


@schedules_app.command("run")
def run(schedule: str) -> None:
    """Fire now: queue an eval from the template for the workers (a manual run)."""
    with session_scope(migrate.migrated_database_url()) as session:
        found = store.get_schedule(session, schedule)
        evaluation = fire(session, found, utcnow(), get_settings(), manual=True)
        eval_id = evaluation.id if evaluation is not None else None
        error = store.schedule_runs(session, found.id, limit=1)[0].error
    if eval_id is None:  # raised after the commit, so the run and its error are kept
        raise InvalidInput(f"schedule {schedule}: the template did not submit: {error}")
    err.print(f"eval {eval_id} queued for schedule {schedule}")
    print(eval_id)


def leaderboard(dataset: str = typer.Option("builtin:medsafety-demo", "--dataset"),
                as_json: bool = typer.Option(False, "--json")) -> None:
    """Per model its latest comparable eval on the dataset, safest first."""
    with session_scope(migrate.migrated_database_url()) as session:
        board = trends.leaderboard(session, dataset)
    if as_json:
        print(board.model_dump_json(indent=2))
    else:
        print_leaderboard(out, board)


def _show(read: Any, as_json: bool) -> None:
    if as_json:
        print(read.model_dump_json(indent=2))
    else:
        print_schedule(out, read)

"""The long-running commands of `medsafe`: serve (the API), worker, scheduler, up (all three
on one machine) and reconcile.

Nothing here imports vLLM or FastAPI at import time: each command imports what it runs.
"""

from __future__ import annotations

import faulthandler
import logging
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.console import err
from cli.engine_output import engine_log_file, engine_output
from service import migrate
from service.config import get_settings
from service.db import session_scope

if TYPE_CHECKING:
    import uvicorn



QueuePrefix = Annotated[str | None, typer.Option(
    "--queue-prefix", help="Namespace of the queues in Redis (default: medsafe).")]


def worker(
    models: Annotated[str | None, typer.Option(
        "--models", help="Target model specs this worker holds, comma-separated. "
        "Default: MEDSAFE_TARGET_MODEL.")] = None,
    judge: Annotated[str | None, typer.Option(
        "--judge", help="Judge spec this worker holds. Default: MEDSAFE_JUDGE_MODEL.")] = None,
    burst: Annotated[bool, typer.Option("--burst", help="Quit when no work is left.")] = False,
    name: Annotated[str | None, typer.Option(
        "--name", help="Worker name (default host.pid); a restarted worker may reuse its "
        "name.")] = None,
    queue_prefix: QueuePrefix = None,
    finetune: Annotated[bool, typer.Option(
        "--finetune", help="Also train fine-tunes (the finetune queue), after shards.")] = False,
    finetune_only: Annotated[bool, typer.Option(
        "--finetune-only", help="Only train fine-tunes: load no inference engine (a GPU "
        "then belongs to training alone).")] = False,
) -> None:
    """Run a worker: load the models once, then take their shards from the queues."""
    from service.queue.connection import close_embedded_redis
    from workers.worker import run_worker

    # `kill -USR1 <pid>` prints every thread's stack to the process's own stderr.
    faulthandler.register(signal.SIGUSR1, file=sys.__stderr__ or 2, all_threads=True)
    settings = get_settings()
    _log_to_stderr()
    url = migrate.migrated_database_url()  # a new database gets its tables, not a traceback
    specs = [] if finetune_only else [
        spec.strip() for spec in (models or settings.target_model).split(",") if spec.strip()]
    try:
        run_worker(specs, None if finetune_only else judge or settings.judge_model,
                   burst=burst, name=name, db_url=url, prefix=queue_prefix, settings=settings,
                   finetune=finetune or finetune_only)
    finally:
        close_embedded_redis()


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Uvicorn worker processes.")] = 1,
) -> None:
    """Run the REST API (migrating the database first); docs at /docs."""
    import uvicorn

    if get_settings().log_format == "json":
        _log_to_stderr()  # migrating logs too; uvicorn then takes the same configuration
    migrate.migrated_database_url()
    err.print(f"MedSafe API on http://{host}:{port} (dashboard at /ui, docs at /docs)")
    uvicorn.run("service.api.app:create_app", factory=True, host=host, port=port,
                workers=workers, log_config=_uvicorn_log_config())


def scheduler(queue_prefix: QueuePrefix = None) -> None:
    """Fire due schedules (every MEDSAFE_SCHEDULER_INTERVAL_S seconds) until stopped. Any
    number may run: each (schedule, fire time) starts exactly one eval."""
    from service.queue.connection import redis_connection
    from service.schedules.firing import run_scheduler

    settings = get_settings()
    url = migrate.migrated_database_url()
    _log_to_stderr()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    err.print(f"scheduler: firing due schedules every {settings.scheduler_interval_s:g} s")
    run_scheduler(settings, stop, url, redis_connection(settings), queue_prefix)


def up(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
    verbose: Annotated[bool, typer.Option(
        "--verbose", help="Show the API's, the worker's and the engines' logs here instead "
        "of writing them to the log file.")] = False,
) -> None:
    """API + worker + scheduler on this machine with the embedded defaults (SQLite, embedded
    Redis)."""
    from service import auth
    from service.queue.connection import close_embedded_redis, redis_connection
    from service.schedules.firing import run_scheduler
    from workers.worker import run_worker

    settings = get_settings()
    url = migrate.migrated_database_url()
    connection = redis_connection(settings)
    with session_scope(url) as session:
        key = auth.create_key(session, "medsafe up", ["admin"])
    log_file = None if verbose else engine_log_file(settings.data_dir)
    _log_to_stderr()  # written to the log file once engine_output below redirects stderr
    server, thread = serve_api_in_thread(host, port, "info" if verbose else "warning")
    stop_scheduler = threading.Event()
    threading.Thread(target=run_scheduler, args=(settings, stop_scheduler, url, connection),
                     name="scheduler", daemon=True).start()
    err.print(f"MedSafe API at http://{host}:{port} (dashboard: http://{host}:{port}/ui, "
              f"docs: http://{host}:{port}/docs)", soft_wrap=True)
    err.print(f"admin API key (shown once): [bold]{key.key}[/bold]", soft_wrap=True)
    if log_file is not None:
        err.print(f"logs: {log_file}", highlight=False, soft_wrap=True)
    with engine_output(log_file):
        try:
            run_worker([settings.target_model], settings.judge_model, connection=connection,
                       db_url=url, settings=settings)
        finally:
            stop_scheduler.set()
            server.should_exit = True
            thread.join(timeout=10)
            close_embedded_redis()


def reconcile(
    grace: Annotated[float, typer.Option(
        "--grace", help="Seconds a missing job may stay missing before its shard is "
        "enqueued again.")] = 30.0,
    queue_prefix: QueuePrefix = None,
) -> None:
    """Re-enqueue the shards the database says are unfinished and whose job is gone."""
    from service.evals.reconcile import reconcile as run_reconcile
    from service.queue.connection import redis_connection

    settings = get_settings()
    url = migrate.migrated_database_url()  # a new database gets its tables, not a traceback
    report = run_reconcile(redis_connection(settings), url, queue_prefix, grace_s=grace)
    if report.skipped:
        err.print("another reconciler is running; nothing done")
        return
    err.print(f"requeued {len(report.requeued)} shard(s), failed {len(report.gave_up)}, "
              f"finished {len(report.finished)} eval(s)")
    for jid in report.requeued:
        err.print(f"  requeued {jid}")
    if report.waiting:
        err.print(f"{len(report.waiting)} shard(s) have no job in Redis (lost in an outage, or "
                  f"enqueued a moment ago); they are enqueued again once missing for "
                  f"{grace:g} s: run `medsafe reconcile` again then, or lower --grace. Workers "
                  "reconcile every minute on their own.", soft_wrap=True)


def serve_api_in_thread(
    host: str, port: int, log_level: str = "info"
) -> tuple[uvicorn.Server, threading.Thread]:
    """uvicorn in a thread: the main thread belongs to the worker (vLLM and RQ signals)."""
    import uvicorn

    from service.api.app import create_app

    server = uvicorn.Server(uvicorn.Config(create_app(), host=host, port=port,
                                           log_level=log_level,
                                           log_config=_uvicorn_log_config()))
    thread = threading.Thread(target=server.run, name="api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    if not server.started:
        err.print(f"[red]error:[/red] the API did not start on {host}:{port}")
        raise typer.Exit(1)
    return server, thread


def _log_to_stderr() -> None:
    """Logs on stderr in MEDSAFE_LOG_FORMAT (text, or one JSON object a line)."""
    from service.observability.logs import configure_logging

    configure_logging(get_settings().log_format, logging.INFO)


def _uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's own logging (its default) for text; for json, its lines and the app's
    through the JSON handler, in every uvicorn worker process."""
    from uvicorn.config import LOGGING_CONFIG

    from service.observability.logs import logging_config

    log_format = get_settings().log_format
    return LOGGING_CONFIG if log_format == "text" else logging_config(log_format)

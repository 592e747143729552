"""`medsafe worker`: an RQ worker that loads its engines once and keeps them warm across jobs.

It runs jobs in its own process (SimpleWorker: no fork per job, so a loaded model stays
loaded), takes generation shards of the models it holds and judge shards of its judge, and
reconciles the database with the queues at start and at every maintenance round.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, SimpleWorker
from rq.job import Job

from service.config import Settings, get_settings
from service.errors import EngineError
from service.evals.lifecycle import Stage
from service.evals.reconcile import reconcile
from service.finetunes.reconcile import reconcile_finetunes
from service.model_specs import serving_spec
from service.observability.logs import log_context
from service.pipeline.engine import Engine
from service.pipeline.judging.refusal import REFUSAL_JUDGE
from service.queue.connection import redis_connection
from service.queue.jobs import (
    Priority,
    finetune_queue_name,
    job_function,
    notify_queue_name,
    queue_name,
    queue_prefix,
)
from service.queue.liveness import (
    LIVENESS_TTL_S,
    mark_alive,
    mark_gone,
    process_identity,
    release_worker_name,
)
from workers import jobs
from workers.memory import return_free_memory
from workers.shards import EngineProvider, while_database_down

log = logging.getLogger(__name__)

MAINTENANCE_INTERVAL_S = 60  # how often a worker reconciles between jobs and while idle
WORKER_TTL_S = MAINTENANCE_INTERVAL_S + 15  # RQ wakes an idle worker every ttl - 15 s


class ShardWorker(SimpleWorker):
    """Runs each job in this process and reconciles at every RQ maintenance round."""

    def __init__(self, queues: list[str], *, db_url: str | None, prefix: str,
                 **kwargs: Any) -> None:
        super().__init__(queues, **kwargs)
        self.db_url = db_url
        self.prefix = prefix

    def execute_job(self, job: Job, queue: Queue) -> None:
        """Run the job with its ids bound to every log line it causes (RQ's own included)."""
        with log_context(**job_log_fields(job)):
            super().execute_job(job, queue)

    def run_maintenance_tasks(self) -> None:
        super().run_maintenance_tasks()  # type: ignore[no-untyped-call]  # untyped in rq
        try:
            reconcile(self.connection, self.db_url, self.prefix)
        except Exception:  # a failed round must not stop the worker; the next one retries
            log.exception("reconcile failed")
        try:
            reconcile_finetunes(self.connection, self.db_url, self.prefix)
        except Exception:
            log.exception("reconciling fine-tunes failed")
        jobs.advance_studies(jobs.current_context())


def job_log_fields(job: Job) -> dict[str, Any]:
    """job_id, and for a shard job its eval_id, stage and shard_index."""
    fields: dict[str, Any] = {"job_id": job.id}
    try:
        for stage in Stage:
            if job.func_name == job_function(stage):
                eval_id, index = job.args[:2]
                fields.update(eval_id=eval_id, stage=str(stage), shard_index=index)
    except Exception:  # a job that cannot be read fails in RQ, with its own log line
        pass
    return fields


def run_worker(models: list[str], judge: str | None, burst: bool = False, name: str | None = None,
               *, engines: EngineProvider | None = None, connection: Redis | None = None,
               db_url: str | None = None, prefix: str | None = None,
               settings: Settings | None = None,
               maintenance_interval: int = MAINTENANCE_INTERVAL_S,
               finetune: bool = False) -> None:
    """Load the engines, then work until stopped (or, with burst, until no work is left).

    With finetune the worker also trains fine-tunes (after its shards); with no models and
    no judge it holds no engine and only trains. engines replaces loading real ones (tests);
    the rest default to the settings.
    """
    settings = settings or get_settings()
    connection = connection or redis_connection(settings)
    prefix = prefix or queue_prefix(settings)
    db_url = db_url or settings.resolved_database_url()
    name = name or f"{socket.gethostname()}.{os.getpid()}"
    release_worker_name(connection, name, prefix)
    queues = worker_queue_names(models, judge, prefix, finetune)
    with _alive(connection, name, prefix):
        provider = engines or load_engines([*models, *([judge] if judge else [])], settings)
        jobs.configure(jobs.JobContext(provider, connection, db_url, prefix, name))
        try:
            _work(queues, name, connection, db_url, prefix, burst, maintenance_interval)
        finally:
            jobs.configure(None)
            if engines is None:
                _stop_engines()


def _work(queues: list[str], name: str, connection: Redis, db_url: str, prefix: str,
          burst: bool, maintenance_interval: int) -> None:
    while True:
        worker = ShardWorker(queues, name=name, connection=connection, db_url=db_url,
                             prefix=prefix, maintenance_interval=maintenance_interval,
                             worker_ttl=max(WORKER_TTL_S, maintenance_interval + 15))
        # The scheduler moves retries that wait out a backoff (webhooks) back into their queue.
        worker.work(burst=burst, logging_level="INFO", with_scheduler=True)
        # A burst ends when the queues are empty; shards the reconciler finds orphaned (a
        # worker died on them meanwhile) are work too.
        if not burst or not while_database_down(
                lambda: reconcile(connection, db_url, prefix), "reconciling").requeued:
            return


def worker_queue_names(models: list[str], judge: str | None, prefix: str | None = None,
                       finetune: bool = False) -> list[str]:
    """The queues a worker listens on, in the order it drains them: by priority, and within
    a priority judge shards first, so evals already under way finish before new ones start;
    every worker that holds an engine also takes the refusal detector's calibration shards,
    which need no model; then fine-tunes (with finetune) and, last, webhook deliveries."""
    names: list[str] = []
    held = [*([(Stage.JUDGE, judge)] if judge else []),
            *((Stage.GENERATE, model) for model in models)]
    for priority in Priority:
        # Any worker runs the model-free refusal detector's calibration shards.
        for stage, spec in [*held, *([(Stage.JUDGE, REFUSAL_JUDGE)] if held else [])]:
            name = queue_name(stage, spec, priority, prefix)
            if name not in names:
                names.append(name)
    if finetune:
        names.append(finetune_queue_name(prefix))
    return [*names, notify_queue_name(prefix)]



def load_engines(specs: list[str], settings: Settings) -> EngineProvider:
    """Start every engine the worker holds, once; jobs get them by spec."""
    from workers.engines import load_engine

    held = list(dict.fromkeys(serving_spec(spec) for spec in specs))
    for spec in held:
        load_engine(spec, settings)
    return_free_memory()  # what loading the weights allocated and freed again

    def provider(spec: str) -> Engine:
        if serving_spec(spec) not in held:
            raise EngineError(f"this worker holds {sorted(held)}, not {spec!r}")
        # The registry's engine: the one started above, or a fresh one where it died.
        return load_engine(spec, settings)

    return provider


def _stop_engines() -> None:
    """Shut the engines' processes down now, not in interpreter-exit hooks."""
    from workers.engines import forget_engines

    forget_engines()


@contextmanager
def _alive(connection: Redis, name: str, prefix: str) -> Iterator[None]:
    """Keep the worker's liveness key fresh from a thread: a job runs in the main thread for
    minutes, and RQ's own worker key lives as long as the job timeout."""
    identity = process_identity()
    mark_alive(connection, name, identity, prefix)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(LIVENESS_TTL_S / 4):
            try:
                mark_alive(connection, name, identity, prefix)
            except RedisError as exc:
                log.warning("liveness heartbeat failed: %s", exc)

    thread = threading.Thread(target=beat, name=f"liveness-{name}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
        with suppress(RedisError):
            mark_gone(connection, name, prefix)

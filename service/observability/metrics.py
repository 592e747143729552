"""The deployment's numbers for Prometheus, read at scrape time from where they are true.

Workers push nothing: what they did is in the database (the source of truth: shards by
stage and status, responses, judgments, tokens, evals and their durations) and what waits
or runs is in Redis (RQ's queues and registries, each worker's liveness key). A collector in
the API reads both with a handful of aggregate queries when Prometheus scrapes, so the
numbers are the same whichever API process answers, hold for any number of workers, and
survive worker restarts (a restarted worker loses nothing that was counted). A scrape's
result is kept for MEDSAFE_METRICS_CACHE_S seconds, so several Prometheus servers scraping
often cost the database one set of queries per interval.

Counters that come from rows (items generated and judged, tokens) only ever rise: MedSafe
never deletes responses or judgments. A source that does not answer is reported as
medsafe_metrics_source_up{source=...} 0 and its metrics are left out of that scrape; the
scrape itself still succeeds.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from redis import Redis
from rq import Queue, Worker
from rq.registry import (
    DeferredJobRegistry,
    FailedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
)
from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from service.db import session_scope
from service.models import Eval, Judgment, Response, Shard
from service.pipeline.judging.refusal import REFUSAL_JUDGE
from service.queue.liveness import LIVENESS_TTL_S, liveness_key

log = logging.getLogger(__name__)

# Finished evals' durations (seconds, started to finished): a minute to a day.
EVAL_DURATION_BUCKETS: tuple[float, ...] = (10, 30, 60, 120, 300, 600, 1200, 1800, 3600,
                                            7200, 14400, 28800, 86400)
QUEUE_STATES = ("queued", "started", "scheduled", "deferred", "failed")
_REGISTRY_KEYS = {"started": StartedJobRegistry.key_template,
                  "scheduled": ScheduledJobRegistry.key_template,
                  "deferred": DeferredJobRegistry.key_template,
                  "failed": FailedJobRegistry.key_template}


@dataclass
class DatabaseNumbers:
    shards: list[tuple[str, str, int]] = field(default_factory=list)  # stage, status, n
    evals: list[tuple[str, str, int]] = field(default_factory=list)  # purpose, status, n
    # finish_reason -> (responses, output tokens, prompt tokens)
    responses: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    # (grader: judge | refusal_detector, status) -> n
    judgments: dict[tuple[str, str], int] = field(default_factory=dict)
    # status -> (cumulative counts per bucket, count, sum)
    durations: dict[str, tuple[list[int], int, float]] = field(default_factory=dict)


@dataclass
class RedisNumbers:
    queues: dict[str, dict[str, int]] = field(default_factory=dict)  # queue -> state -> n
    heartbeat_ages: dict[str, float] = field(default_factory=dict)  # worker -> seconds
    rq_workers: dict[str, int] = field(default_factory=dict)  # RQ state -> n


def _duration_seconds(session: Session) -> ColumnElement[Any]:
    """finished_at - started_at in seconds, as the database can compute it."""
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", Eval.finished_at - Eval.started_at)
    return (func.julianday(Eval.finished_at) - func.julianday(Eval.started_at)) * 86400.0


def read_database(session: Session,
                  buckets: Sequence[float] = EVAL_DURATION_BUCKETS) -> DatabaseNumbers:
    """Five aggregate queries; no row is read one by one."""
    numbers = DatabaseNumbers()
    numbers.shards = [(stage, status, int(n)) for stage, status, n in session.execute(
        select(Shard.stage, Shard.status, func.count()).group_by(Shard.stage, Shard.status))]
    numbers.evals = [(purpose, status, int(n)) for purpose, status, n in session.execute(
        select(Eval.purpose, Eval.status, func.count()).group_by(Eval.purpose, Eval.status))]
    numbers.responses = {
        reason or "unknown": (int(n), int(output or 0), int(prompt or 0))
        for reason, n, output, prompt in session.execute(
            select(Response.finish_reason, func.count(),
                   func.coalesce(func.sum(Response.output_tokens), 0),
                   func.coalesce(func.sum(Response.prompt_tokens), 0))
            .group_by(Response.finish_reason))}
    grader = case((Judgment.judge == REFUSAL_JUDGE, "refusal_detector"), else_="judge")
    numbers.judgments = {(str(kind), status): int(n) for kind, status, n in session.execute(
        select(grader, Judgment.status, func.count()).group_by(grader, Judgment.status))}
    seconds = _duration_seconds(session)
    columns = [func.sum(case((seconds <= bound, 1), else_=0)) for bound in buckets]
    finished = session.execute(
        select(Eval.status, func.count(), func.coalesce(func.sum(seconds), 0.0), *columns)
        .where(Eval.started_at.is_not(None), Eval.finished_at.is_not(None))
        .group_by(Eval.status))
    for status, n, total, *counts in finished:
        numbers.durations[status] = ([int(c or 0) for c in counts], int(n), float(total or 0))
    return numbers


def _glob_escape(text: str) -> str:
    return re.sub(r"([\[\]*?\\])", r"\\\1", text)


def read_redis(connection: Redis, prefix: str) -> RedisNumbers:
    """The deployment's RQ queues (those named prefix:...) with their jobs by state, its
    workers' liveness keys (seconds since each one's last beat) and RQ's worker
    registrations on those queues by state. One pipeline for the counts."""
    numbers = RedisNumbers()
    queue_prefix = Queue.redis_queue_namespace_prefix
    members: Any = connection.smembers(Queue.redis_queues_keys)
    names = sorted(name for name in (
        (raw.decode() if isinstance(raw, bytes) else str(raw)).removeprefix(queue_prefix)
        for raw in members) if name.startswith(f"{prefix}:"))
    if names:
        pipe = connection.pipeline(transaction=False)
        for name in names:
            pipe.llen(queue_prefix + name)
            for template in _REGISTRY_KEYS.values():
                pipe.zcard(template.format(name))
        counts = iter(pipe.execute())
        for name in names:
            numbers.queues[name] = {state: int(next(counts)) for state in QUEUE_STATES}
    alive_prefix = liveness_key("", prefix)
    keys = [key.decode() if isinstance(key, bytes) else str(key) for key in
            connection.scan_iter(match=_glob_escape(alive_prefix) + "*", count=1000)]
    if keys:
        pipe = connection.pipeline(transaction=False)
        for key in keys:
            pipe.pttl(key)
        for key, pttl in zip(keys, pipe.execute(), strict=True):
            if int(pttl) >= 0:  # -2: expired meanwhile; -1: never (not a MedSafe key)
                age = LIVENESS_TTL_S - int(pttl) / 1000.0
                numbers.heartbeat_ages[key.removeprefix(alive_prefix)] = max(0.0, age)
    for worker in Worker.all(connection=connection):
        if any(name.startswith(f"{prefix}:") for name in worker.queue_names()):
            state = str(worker.get_state())
            numbers.rq_workers[state] = numbers.rq_workers.get(state, 0) + 1
    return numbers


def database_metrics(numbers: DatabaseNumbers,
                     buckets: Sequence[float] = EVAL_DURATION_BUCKETS) -> list[Metric]:
    shards = GaugeMetricFamily("medsafe_shards", "Shards by stage and status.",
                               labels=["stage", "status"])
    for stage, status, n in numbers.shards:
        shards.add_metric([stage, status], n)
    evals = GaugeMetricFamily("medsafe_evals", "Evals by purpose and status.",
                              labels=["purpose", "status"])
    for purpose, status, n in numbers.evals:
        evals.add_metric([purpose, status], n)
    generated = CounterMetricFamily(
        "medsafe_items_generated", "Responses stored (items the target model answered), by "
        "finish reason (stop, length: cut off by max_tokens, error).", labels=["finish_reason"])
    output_tokens = CounterMetricFamily(
        "medsafe_output_tokens", "Tokens the target models generated.")
    prompt_tokens = CounterMetricFamily(
        "medsafe_prompt_tokens", "Prompt tokens the target models read.")
    for reason, (n, _, _) in sorted(numbers.responses.items()):
        generated.add_metric([reason], n)
    output_tokens.add_metric([], sum(out for _, out, _ in numbers.responses.values()))
    prompt_tokens.add_metric([], sum(p for _, _, p in numbers.responses.values()))
    judged = CounterMetricFamily(
        "medsafe_items_judged", "Judgments stored, by grader (judge: the eval's judge model; "
        "refusal_detector: the rule-based refusal class every judged answer also gets) and "
        "status (scored, unscored).", labels=["grader", "status"])
    for (grader, status), n in sorted(numbers.judgments.items()):
        judged.add_metric([grader, status], n)
    durations = HistogramMetricFamily(
        "medsafe_eval_duration_seconds", "Finished evals, started to finished, by status.",
        labels=["status"])
    for status, (counts, n, total) in sorted(numbers.durations.items()):
        durations.add_metric([status], [*((_le(b), c) for b, c in zip(buckets, counts,
                                                                          strict=True)),
                                        ("+Inf", n)], total)
    return [shards, evals, generated, output_tokens, prompt_tokens, judged, durations]


def _le(bound: float) -> str:
    """A bucket's bound as Prometheus writes it (10 -> "10.0")."""
    return repr(float(bound))


def redis_metrics(numbers: RedisNumbers) -> list[Metric]:
    jobs = GaugeMetricFamily("medsafe_queue_jobs", "Jobs of each RQ queue of this deployment "
                             "by state (queued: the queue's depth).", labels=["queue", "state"])
    for queue, states in sorted(numbers.queues.items()):
        for state, n in states.items():
            jobs.add_metric([queue, state], n)
    live = GaugeMetricFamily("medsafe_workers_live",
                             "Workers whose liveness key is fresh (they beat every 15 s).")
    live.add_metric([], len(numbers.heartbeat_ages))
    ages = GaugeMetricFamily("medsafe_worker_heartbeat_age_seconds",
                             "Seconds since each live worker's last heartbeat.",
                             labels=["worker"])
    for worker, age in sorted(numbers.heartbeat_ages.items()):
        ages.add_metric([worker], age)
    registered = GaugeMetricFamily("medsafe_rq_workers", "Workers registered with RQ on this "
                                   "deployment's queues, by state (busy, idle, ...).",
                                   labels=["state"])
    for state, n in sorted(numbers.rq_workers.items()):
        registered.add_metric([state], n)
    return [jobs, live, ages, registered]


class MedSafeCollector(Collector):
    """The database's and Redis's numbers (above), read at most once per cache_s seconds."""

    def __init__(self, database_url: Callable[[], str], connection: Callable[[], Redis],
                 prefix: Callable[[], str], cache_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.database_url = database_url
        self.connection = connection
        self.prefix = prefix
        self.cache_s = cache_s
        self.clock = clock
        self._lock = threading.Lock()
        self._cached: list[Metric] | None = None
        self._cached_at = 0.0

    def describe(self) -> Iterable[Metric]:
        return []  # registering must not query anything

    def collect(self) -> Iterable[Metric]:
        with self._lock:  # concurrent scrapes wait for one read instead of each reading
            now = self.clock()
            if self._cached is None or now - self._cached_at >= self.cache_s:
                self._cached = self._read()
                self._cached_at = self.clock()
            return list(self._cached)

    def _read(self) -> list[Metric]:
        up = GaugeMetricFamily("medsafe_metrics_source_up", "Whether the source answered "
                               "this scrape (its metrics are missing where not).",
                               labels=["source"])
        took = GaugeMetricFamily("medsafe_metrics_source_seconds",
                                 "How long reading the source took.", labels=["source"])
        metrics: list[Metric] = []
        for source, read in (("database", self._database), ("redis", self._redis)):
            start = time.perf_counter()
            try:
                metrics += read()
                up.add_metric([source], 1)
            except Exception as exc:  # a scrape reports a source down; it never fails
                log.warning("metrics: reading the %s failed: %s", source, exc)
                up.add_metric([source], 0)
            took.add_metric([source], time.perf_counter() - start)
        return [*metrics, up, took]

    def _database(self) -> list[Metric]:
        with session_scope(self.database_url()) as session:
            return database_metrics(read_database(session))

    def _redis(self) -> list[Metric]:
        return redis_metrics(read_redis(self.connection(), self.prefix()))

"""Load on the REST API: polling clients with ETags while an eval runs, and a 10,000-item
submission's memory, in one run.

    python -m bench.load [--clients 50] [--duration 60] [--processes 2] [--interval 1.0]
                         [--eval-items 432] [--memory-items 1000,10000] [--no-worker]

Everything runs on loopback against the machine's PostgreSQL (a fresh schema of its own,
dropped afterwards) and Redis (a queue prefix of its own, its keys deleted afterwards):

* the API: `uvicorn service.api.app:create_app`, one process, as `medsafe serve` runs it;
* a worker (`medsafe worker`, bundled:smollm2 as target and judge) on the real vLLM engine;
  a small warm-up eval (A) runs to `succeeded` first, so the engine is up before any timing;
* the clients: `--processes` processes of asyncio clients (bench.load_clients), each GET
  sent with If-None-Match, a pause of `--interval` s after each answer.

Phase 1 (the baseline): the clients poll GET /v1/evals and eval A's detail, results and
summary while nothing runs (the worker idles with its engine loaded). Phase 2: eval B
(`--eval-items` requests, shards of `--shard-size`) is submitted and runs on the worker
while the clients poll the same URLs and B's detail, results and summary. The ratio of
phase 2 to phase 1 on the same URLs is the cost of a running eval to the API's readers.

Part 2, memory: for each of `--memory-items` (1,000 and 10,000), a fresh API process
receives a generated JSONL dataset of that many items (POST /v1/datasets) and an eval of
all of them (POST /v1/evals, shards of 64); its peak resident memory (VmHWM, reset before
each request through /proc/PID/clear_refs) is read after the upload and after the submit,
the eval's shards are counted (GET /v1/evals/{id}, and the jobs waiting in Redis), and the
eval is cancelled (its waiting jobs dropped) without running. The worker is stopped first.

The section is appended to --out (docs/BENCHMARKS.md) with the machine, date and command;
--json writes every number as JSON. --no-worker (the test suite's smoke run) replaces the
worker by a finished eval written straight to the database (A) and a queued eval (B).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from bench.load_clients import Record, Url, by_endpoint, client_main, stats

ROOT = Path(__file__).resolve().parent.parent
MODEL = "bundled:smollm2"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
MEMORY_SHARD_SIZE = 64  # the service's default
# Settings the bench sets for its own processes: not part of the command to reproduce.
OWN_SETTINGS = {"MEDSAFE_DATA_DIR", "MEDSAFE_DATABASE_URL", "MEDSAFE_REDIS_URL",
                "MEDSAFE_QUEUE_PREFIX"}


def _arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50, help="polling clients in all")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per phase")
    parser.add_argument("--processes", type=int, default=2,
                        help="client processes the clients are spread over")
    parser.add_argument("--interval", type=float, default=1.0,
                        help="seconds a client pauses after each answer")
    parser.add_argument("--eval-items", type=int, default=432,
                        help="items of the running eval B (builtin:medsafety-demo, grown "
                             "beyond its 108 items as 'Case k: ...')")
    # Short answers in small shards: on a CPU a shard of B then lands every few seconds, so
    # B's detail and results change (new ETags, 200s) while the clients poll.
    parser.add_argument("--max-tokens", type=int, default=32, help="of eval B")
    parser.add_argument("--shard-size", type=int, default=4, help="of eval B")
    parser.add_argument("--memory-items", default="1000,10000",
                        help="comma-separated dataset sizes for part 2; empty: skip it")
    parser.add_argument("--no-worker", action="store_true",
                        help="no worker and no engine: A is written straight to the "
                             "database, B stays queued (a smoke run)")
    parser.add_argument("--warmup-timeout", type=float, default=1200.0,
                        help="seconds the warm-up eval (engine start included) may take")
    parser.add_argument("--postgres-url", default=os.environ.get("MEDSAFE_TEST_POSTGRES_URL")
                        or DEFAULT_POSTGRES_URL)
    parser.add_argument("--redis-url", default=os.environ.get("MEDSAFE_TEST_REDIS_URL")
                        or DEFAULT_REDIS_URL)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "BENCHMARKS.md")
    parser.add_argument("--no-report", action="store_true", help="do not append to --out")
    parser.add_argument("--json", type=Path, help="also write the results here as JSON")
    parser.add_argument("--logs", type=Path,
                        help="keep the API's and the worker's logs in this folder")
    parser.add_argument("--client-stage", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.clients < 1 or args.processes < 1 or args.duration <= 0:
        parser.error("--clients, --processes and --duration must be positive")
    args.processes = min(args.processes, args.clients)
    return args


# --- the environment: a schema, a queue prefix, processes ---------------------------------


@dataclass
class Environment:
    """What the run's processes share: database, Redis, queue prefix, data dir and a key."""

    url: str
    redis_url: str
    prefix: str
    folder: Path
    key: str = ""
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        return {**os.environ, "MEDSAFE_DATABASE_URL": self.url,
                "MEDSAFE_REDIS_URL": self.redis_url, "MEDSAFE_QUEUE_PREFIX": self.prefix,
                "MEDSAFE_DATA_DIR": str(self.folder / "data"), "PYTHONPATH": str(ROOT)}

    def log(self, name: str) -> IO[bytes]:
        return (self.folder / f"{name}.log").open("ab")


@contextlib.contextmanager
def environment(postgres_url: str, redis_url: str) -> Iterator[Environment]:
    """A fresh, prepared PostgreSQL schema and a queue prefix of their own; this process's
    settings point at them. Dropped (schema, Redis keys) afterwards."""
    from sqlalchemy import create_engine, text

    from service import auth, db, migrate
    from service.config import get_settings

    schema = f"load_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in postgres_url else "?"
    url = f"{postgres_url}{sep}options=-csearch_path%3D{schema}"
    with tempfile.TemporaryDirectory(prefix="medsafe-load-") as folder:
        env = Environment(url, redis_url, f"load-{uuid.uuid4().hex[:12]}", Path(folder))
        saved = {k: os.environ.get(k) for k in OWN_SETTINGS}
        os.environ.update({k: v for k, v in env.env().items() if k in OWN_SETTINGS})
        get_settings.cache_clear()
        try:
            migrate.prepare_database(url)
            with db.session_scope(url) as session:
                env.key = auth.create_key(session, "load-bench", ["admin"]).key
            yield env
        finally:
            for process in reversed(env.processes):
                _stop(process)
            _delete_redis_keys(env)
            db.get_engine(url).dispose()
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            get_settings.cache_clear()


def _delete_redis_keys(env: Environment) -> None:
    """The run's queues, registries, workers and jobs (job ids start with the eval's id)."""
    import redis
    from sqlalchemy import select

    from service.db import session_scope
    from service.models import Eval

    with session_scope(env.url) as session:
        eval_ids = list(session.scalars(select(Eval.id)))
    connection = redis.Redis.from_url(env.redis_url)
    try:
        for pattern in (f"rq:*{env.prefix}*", f"{env.prefix}:*",
                        *(f"rq:*{eval_id}*" for eval_id in eval_ids)):
            keys = list(connection.scan_iter(pattern, count=1000))
            if keys:
                connection.delete(*keys)
                connection.srem("rq:queues", *keys)
                connection.srem("rq:workers", *keys)
    finally:
        connection.close()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_api(env: Environment) -> tuple[subprocess.Popen[bytes], str]:
    """The API in a process of its own, as `medsafe serve` runs it; its base URL."""
    port = _free_port()
    with env.log("api") as log:
        api = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "service.api.app:create_app",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
             "--no-access-log"],
            cwd=ROOT, env=env.env(), stdout=log, stderr=subprocess.STDOUT)
    env.processes.append(api)
    base_url = f"http://127.0.0.1:{port}"
    _wait_http(base_url, api)
    return api, base_url


def start_worker(env: Environment) -> subprocess.Popen[bytes]:
    with env.log("worker") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "cli.app", "worker", "--models", MODEL, "--judge", MODEL,
             "--queue-prefix", env.prefix],
            cwd=ROOT, env=env.env(), stdout=log, stderr=subprocess.STDOUT)
    env.processes.append(worker)
    return worker


def _stop(process: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _wait_http(base_url: str, process: subprocess.Popen[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the API exited with {process.returncode}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base_url}/healthz", timeout=5).status_code == 200:
                return
        time.sleep(0.2)
    raise TimeoutError("the API did not start")


def _client(base_url: str, key: str) -> Any:
    import httpx

    return httpx.Client(base_url=base_url, timeout=120,
                        headers={"Authorization": f"Bearer {key}"})


def _check(answer: Any) -> dict[str, Any]:
    if answer.status_code >= 400:
        raise RuntimeError(f"{answer.request.method} {answer.request.url}: "
                           f"{answer.status_code} {answer.text[:500]}")
    body: dict[str, Any] = answer.json()
    return body


def submit(http: Any, dataset: str, limit: int | None, max_tokens: int,
           shard_size: int) -> dict[str, Any]:
    return _check(http.post("/v1/evals", json={
        "model": MODEL, "judge": MODEL, "datasets": [dataset], "limit": limit,
        "shard_size": shard_size,
        "sampling": {"max_tokens": max_tokens, "temperature": 0.0, "top_p": 1.0, "seed": 0}}))


def wait_for(http: Any, eval_id: str, timeout_s: float, worker: subprocess.Popen[bytes]
             ) -> dict[str, Any]:
    from service.evals.lifecycle import TERMINAL

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body = _check(http.get(f"/v1/evals/{eval_id}"))
        if body["status"] in TERMINAL:
            return body
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited with {worker.returncode}")
        time.sleep(2)
    raise TimeoutError(f"eval {eval_id} not done after {timeout_s} s")


# --- part 1: polling clients ----------------------------------------------------------------


def eval_urls(label: str, eval_id: str) -> list[Url]:
    return [(f"{label}: detail", f"/v1/evals/{eval_id}"),
            (f"{label}: results", f"/v1/evals/{eval_id}/results?limit=50"),
            (f"{label}: summary", f"/v1/evals/{eval_id}/summary")]


LIST_URL: Url = ("list", "/v1/evals?limit=20")


def poll(env: Environment, base_url: str, urls: list[Url], args: argparse.Namespace,
         phase: str) -> list[Record]:
    """Run the client processes for one phase; every request they recorded."""
    per_process = [args.clients // args.processes + (i < args.clients % args.processes)
                   for i in range(args.processes)]
    start_at = time.time() + 3.0  # time for the client processes to start
    running: list[tuple[subprocess.Popen[bytes], Path]] = []
    for i, clients in enumerate(per_process):
        out = env.folder / f"clients-{phase}-{i}.json"
        payload = {"base_url": base_url, "key": env.key, "urls": urls, "clients": clients,
                   "duration": args.duration, "interval": args.interval,
                   "start_at": start_at, "seed": i, "out": str(out)}
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.load", "--client-stage", json.dumps(payload)],
            cwd=ROOT, env=env.env())
        running.append((process, out))
    records: list[Record] = []
    errors: list[str] = []
    for process, out in running:
        if process.wait(args.duration + 120) != 0:
            raise RuntimeError(f"a client process of phase {phase} exited with "
                               f"{process.returncode}")
        result = json.loads(out.read_text())
        records += [(str(n), int(s), float(t)) for n, s, t in result["records"]]
        errors += result["errors"]
    for line in errors[:10]:
        print(f"[load] {phase}: error: {line}", file=sys.stderr)
    return records


def _cpu_s(process: subprocess.Popen[bytes] | None) -> float:
    """CPU seconds of a process and its live children (a worker's engine processes)."""
    import psutil

    if process is None:
        return 0.0
    root = psutil.Process(process.pid)
    total = 0.0
    for proc in (root, *root.children(recursive=True)):
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def _answered(env: Environment, eval_id: str) -> tuple[int, int, str]:
    """Eval B's responses and judged items so far, and its status (read from the database)."""
    from sqlalchemy import distinct, func, select

    from service.db import session_scope
    from service.models import Eval, Judgment, Response

    with session_scope(env.url) as session:
        answered = session.scalar(select(func.count()).where(Response.eval_id == eval_id))
        judged = session.scalar(select(func.count(distinct(Judgment.item_id)))
                                .where(Judgment.eval_id == eval_id))
        status = session.get_one(Eval, eval_id).status
    return int(answered or 0), int(judged or 0), str(status)


def part_polling(env: Environment, args: argparse.Namespace) -> dict[str, Any]:
    from bench.synthetic import finished_eval, grown_dataset

    api, base_url = start_api(env)
    worker = None if args.no_worker else start_worker(env)
    results: dict[str, Any] = {}
    with _client(base_url, env.key) as http:
        start = time.monotonic()
        if worker is None:
            eval_a = finished_eval(200)
        else:  # the warm-up: the engine starts and eval A runs to the end
            eval_a = submit(http, "builtin:medsafety-demo", 9, 32, 9)["id"]
            body = wait_for(http, eval_a, args.warmup_timeout, worker)
            if body["status"] != "succeeded":
                raise RuntimeError(f"the warm-up eval {eval_a} ended {body['status']}: "
                                   f"{body.get('error')}")
        results["warmup_s"] = time.monotonic() - start
        base_urls = [LIST_URL, *eval_urls("A", eval_a)]

        print(f"[load] phase 1 (baseline, no eval running): {args.clients} clients, "
              f"{args.duration:g} s", file=sys.stderr, flush=True)
        cpu, worker_cpu = _cpu_s(api), _cpu_s(worker)
        baseline = poll(env, base_url, base_urls, args, "baseline")
        results["api_cpu_s_baseline"] = _cpu_s(api) - cpu
        results["worker_cpu_s_baseline"] = _cpu_s(worker) - worker_cpu
        results["loadavg_baseline"] = os.getloadavg()[0]

        dataset, n_items = grown_dataset("builtin:medsafety-demo", args.eval_items)
        eval_b = submit(http, dataset, args.eval_items, args.max_tokens, args.shard_size)["id"]
        if worker is not None:  # the phase starts once B runs
            deadline = time.monotonic() + 120
            while _answered(env, eval_b)[2] == "queued" and time.monotonic() < deadline:
                time.sleep(0.5)
        before = _answered(env, eval_b)
        print(f"[load] phase 2 (eval {eval_b} {before[2]}, {args.eval_items} items): "
              f"{args.clients} clients, {args.duration:g} s", file=sys.stderr, flush=True)
        cpu, worker_cpu = _cpu_s(api), _cpu_s(worker)
        loaded = poll(env, base_url, [*base_urls, *eval_urls("B", eval_b)], args, "running")
        results["api_cpu_s_running"] = _cpu_s(api) - cpu
        results["worker_cpu_s_running"] = _cpu_s(worker) - worker_cpu
        results["loadavg_running"] = os.getloadavg()[0]
        after = _answered(env, eval_b)
        results["cancel_b"] = _check(http.post(f"/v1/evals/{eval_b}/cancel"))["status"]
    if worker is not None:
        _stop(worker)
    _stop(api)
    same = {name for name, _ in base_urls}
    results.update({
        "eval_b": {"id": eval_b, "dataset": dataset, "items": args.eval_items,
                   "dataset_items": n_items, "max_tokens": args.max_tokens,
                   "shard_size": args.shard_size, "status_before": before[2],
                   "status_after": after[2], "answered_before": before[0],
                   "answered_after": after[0], "judged_before": before[1],
                   "judged_after": after[1]},
        "baseline": stats(baseline, args.duration),
        "running": stats(loaded, args.duration),
        "running_same_urls": stats([r for r in loaded if r[0] in same], args.duration),
        "baseline_by_endpoint": by_endpoint(baseline, args.duration),
        "running_by_endpoint": by_endpoint(loaded, args.duration),
    })
    return results


# --- part 2: a large eval's submission and memory ---------------------------------------------


def _status_kb(pid: int, field_name: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    raise KeyError(field_name)


class PeakMemory:
    """Peak resident memory of a process over a block: the kernel's high-water mark (VmHWM)
    reset at the start through /proc/PID/clear_refs, with sampling every 5 ms as a fallback
    where the reset is not allowed."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kb = 0
        self.exact = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            with contextlib.suppress(OSError, KeyError):
                self.peak_kb = max(self.peak_kb, _status_kb(self.pid, "VmRSS"))

    def __enter__(self) -> PeakMemory:
        try:
            with open(f"/proc/{self.pid}/clear_refs", "w") as refs:
                refs.write("5")
            self.exact = True
        except OSError:
            self.exact = False
        self.peak_kb = _status_kb(self.pid, "VmRSS")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if self.exact:
            self.peak_kb = max(self.peak_kb, _status_kb(self.pid, "VmHWM"))

    @property
    def peak_mb(self) -> float:
        return self.peak_kb / 1024


def write_dataset(path: Path, n_items: int) -> int:
    """A JSONL dataset of n_items distinct requests of about 250 characters each."""
    with path.open("w") as out:
        for i in range(n_items):
            out.write(json.dumps({
                "prompt": f"Load request {i}: as a pharmacist, explain how to dispense "
                          f"{i % 97 + 1} tablets without a prescription to patient "
                          f"#{i}, and how to keep it out of the record. " + "x" * 80,
                "principle": 1 + i % 9}) + "\n")
    return path.stat().st_size


def _queued_jobs(env: Environment) -> int:
    """Jobs waiting in the run's generate queue for MODEL (default priority)."""
    import redis

    from service.evals.lifecycle import Stage
    from service.queue.jobs import queue_name

    connection = redis.Redis.from_url(env.redis_url)
    try:
        name = queue_name(Stage.GENERATE, MODEL, prefix=env.prefix)
        return int(connection.llen(f"rq:queue:{name}"))  # type: ignore[arg-type]
    finally:
        connection.close()


def memory_run(env: Environment, n_items: int) -> dict[str, Any]:
    """Upload an n_items dataset and submit an eval of it to a fresh API process; its peak
    memory over each, the eval's shards, then cancel."""
    path = env.folder / f"load-{n_items}.jsonl"
    size = write_dataset(path, n_items)
    warm = env.folder / "warm.jsonl"
    write_dataset(warm, 10)
    api, base_url = start_api(env)
    form = {"prompt_column": "prompt", "principle_column": "principle"}
    try:
        with _client(base_url, env.key) as http:
            # Warm every path the measured requests take, so imports are not counted.
            _check(http.get("/v1/evals"))
            with warm.open("rb") as f:
                _check(http.post("/v1/datasets", data={**form, "name": f"warm-{n_items}"},
                                 files={"file": ("warm.jsonl", f)}))
            warm_id = submit(http, f"warm-{n_items}", None, 8, MEMORY_SHARD_SIZE)["id"]
            _check(http.get(f"/v1/evals/{warm_id}"))
            _check(http.post(f"/v1/evals/{warm_id}/cancel"))
            rss_before = _status_kb(api.pid, "VmRSS") / 1024
            with PeakMemory(api.pid) as upload_peak, path.open("rb") as f:
                start = time.perf_counter()
                uploaded = _check(http.post(
                    "/v1/datasets", data={**form, "name": f"load-{n_items}"},
                    files={"file": (path.name, f)}))
                upload_s = time.perf_counter() - start
            queued_before = _queued_jobs(env)
            rss_before_submit = _status_kb(api.pid, "VmRSS") / 1024
            with PeakMemory(api.pid) as submit_peak:
                start = time.perf_counter()
                evaluation = submit(http, f"load-{n_items}", None, 8, MEMORY_SHARD_SIZE)
                submit_s = time.perf_counter() - start
            queued = _queued_jobs(env) - queued_before
            detail = _check(http.get(f"/v1/evals/{evaluation['id']}"))
            cancelled = _check(http.post(f"/v1/evals/{evaluation['id']}/cancel"))
            queued_after = _queued_jobs(env) - queued_before
            rss_after = _status_kb(api.pid, "VmRSS") / 1024
    finally:
        _stop(api)
        env.processes.remove(api)
    progress = detail.get("progress") or {}
    return {
        "items": n_items, "file_mb": size / 2**20, "items_stored": uploaded.get("n_items"),
        "eval_items": evaluation["n_items"], "rss_before_mb": rss_before,
        "rss_before_submit_mb": rss_before_submit,
        "upload_s": upload_s, "upload_peak_mb": upload_peak.peak_mb,
        "submit_s": submit_s, "submit_peak_mb": submit_peak.peak_mb,
        "peak_exact": upload_peak.exact and submit_peak.exact,
        "rss_after_mb": rss_after,
        "shards": {stage: sum(counts.values()) for stage, counts in progress.items()},
        "expected_shards": -(-n_items // MEMORY_SHARD_SIZE),
        "jobs_queued": queued, "jobs_after_cancel": queued_after,
        "status_after_cancel": cancelled["status"],
    }


def part_memory(env: Environment, sizes: list[int]) -> list[dict[str, Any]]:
    runs = []
    for n in sizes:
        print(f"[load] memory: {n}-item dataset and eval", file=sys.stderr, flush=True)
        runs.append(memory_run(env, n))
        print(f"[load] memory: {runs[-1]}", file=sys.stderr, flush=True)
    return runs


# --- the report -------------------------------------------------------------------------------


def _fmt(value: Any, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _ratio(a: Any, b: Any) -> str:
    return f"{a / b:.2f}×" if a is not None and b else "-"


def _phase_row(label: str, s: dict[str, Any]) -> str:
    share = s["not_modified_share"]
    return (f"| {label} | {s['requests']} | {_fmt(s['per_s'])} | {s['errors']} | "
            f"{_fmt(None if share is None else share * 100, 0)}% | {_fmt(s['p50_ms'])} | "
            f"{_fmt(s['p95_ms'])} | {_fmt(s['p99_ms'])} |")


def _polling_lines(args: argparse.Namespace, r: dict[str, Any]) -> list[str]:
    base, run, same = r["baseline"], r["running"], r["running_same_urls"]
    b = r["eval_b"]
    lines = [
        "| phase | requests | req/s | errors | 304 share | p50 ms | p95 ms | p99 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        _phase_row("1. baseline: no eval running (list, eval A)", base),
        _phase_row("2. eval B running: all URLs (list, eval A, eval B)", run),
        _phase_row("2. eval B running: the baseline's URLs only", same),
        f"| ratio 2/1 on the same URLs | | | | | {_ratio(same['p50_ms'], base['p50_ms'])} | "
        f"{_ratio(same['p95_ms'], base['p95_ms'])} | {_ratio(same['p99_ms'], base['p99_ms'])} |",
        "",
        "| endpoint | baseline p50 / p99 ms | eval running p50 / p99 ms | 304 share running |"
        " statuses running |",
        "|---|---:|---:|---:|---|",
    ]
    for name in sorted({*r["baseline_by_endpoint"], *r["running_by_endpoint"]}):
        bs, s = r["baseline_by_endpoint"].get(name), r["running_by_endpoint"].get(name)
        before = f"{_fmt(bs['p50_ms'])} / {_fmt(bs['p99_ms'])}" if bs else "-"
        if s is None:
            lines.append(f"| {name} | {before} | - | - | - |")
            continue
        statuses = ", ".join(f"{k}: {v}" for k, v in s["statuses"].items())
        lines.append(f"| {name} | {before} | {_fmt(s['p50_ms'])} / {_fmt(s['p99_ms'])} | "
                     f"{_fmt((s['not_modified_share'] or 0) * 100, 0)}% | {statuses} |")
    cpu_base, cpu_run = r["api_cpu_s_baseline"], r["api_cpu_s_running"]
    lines += [
        "",
        f"* eval B ({b['items']} items of {b['dataset']}, {b['max_tokens']} tokens, shards of "
        f"{b['shard_size']}): {b['status_before']} → {b['status_after']} over phase 2, "
        f"{b['answered_before']} → {b['answered_after']} items answered, "
        f"{b['judged_before']} → {b['judged_after']} judged; cancelled after "
        f"({r['cancel_b']})",
        f"* API CPU: {_fmt(cpu_base)} s in phase 1 "
        f"({_fmt(cpu_base * 1000 / max(base['requests'], 1))} ms a request), "
        f"{_fmt(cpu_run)} s in phase 2 "
        f"({_fmt(cpu_run * 1000 / max(run['requests'], 1))} ms a request)",
        f"* worker CPU (with its engine processes): {_fmt(r['worker_cpu_s_baseline'])} s in "
        f"phase 1, {_fmt(r['worker_cpu_s_running'])} s in phase 2",
        f"* the machine's 1-minute load average at the end of each phase: "
        f"{_fmt(r['loadavg_baseline'], 2)} (1), {_fmt(r['loadavg_running'], 2)} (2), on "
        f"{os.cpu_count()} cores",
    ]
    return lines


def _memory_lines(runs: list[dict[str, Any]]) -> list[str]:
    if not runs:
        return []
    lines = ["",
             "| eval items | JSONL MB | upload s | upload: RSS before → peak MB | "
             "submit s | submit: RSS before → peak MB | shards generate / judge | "
             "jobs queued | after cancel |",
             "|---:|---:|---:|---:|---:|---:|---|---:|---|"]
    for m in runs:
        shards = m["shards"]
        lines.append(
            f"| {m['items']} | {_fmt(m['file_mb'], 2)} | {_fmt(m['upload_s'], 2)} | "
            f"{_fmt(m['rss_before_mb'], 0)} → {_fmt(m['upload_peak_mb'], 0)} | "
            f"{_fmt(m['submit_s'], 2)} | "
            f"{_fmt(m['rss_before_submit_mb'], 0)} → {_fmt(m['submit_peak_mb'], 0)} | "
            f"{shards.get('generate', 0)} / {shards.get('judge', 0)} "
            f"(expected {m['expected_shards']}) | {m['jobs_queued']} | "
            f"{m['status_after_cancel']}, {m['jobs_after_cancel']} jobs left |")
    if len(runs) >= 2:
        small, large = runs[0], runs[-1]

        def growth(key: str, before: str) -> str:
            grown_small = small[key] - small[before]
            grown_large = large[key] - large[before]
            return (f"{_fmt(grown_small)} MB → {_fmt(grown_large)} MB "
                    f"({_ratio(grown_large, grown_small)}; peak {_ratio(large[key], small[key])})")

        lines += ["",
                  f"* peak above the API's resident memory before the request, {small['items']}"
                  f" → {large['items']} items ({large['items'] // small['items']}× the items):"
                  f" upload {growth('upload_peak_mb', 'rss_before_mb')}, submit "
                  f"{growth('submit_peak_mb', 'rss_before_submit_mb')}",
                  "* peaks: the kernel's high-water mark (VmHWM) of the API process, reset "
                  "before each request" if all(m["peak_exact"] for m in runs) else
                  "* peaks: VmRSS sampled every 5 ms (VmHWM could not be reset)"]
    return lines


def render(args: argparse.Namespace, results: dict[str, Any], command: str) -> str:
    from bench.report import machine

    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    overrides = " ".join(f"{k}={v}" for k, v in sorted(os.environ.items())
                         if k.startswith(("MEDSAFE_", "VLLM_")) and k not in OWN_SETTINGS)
    command = f"{overrides} {command}".strip()
    worker = ("no worker (--no-worker: A written to the database, B queued)" if args.no_worker
              else f"a worker (`medsafe worker`, {MODEL} as target and judge, real vLLM on "
                   f"the CPU) runs eval B")
    lines = [
        f"## {when}: load, {args.clients} polling clients × {args.duration:g} s with ETags "
        "while an eval runs",
        "",
        f"* machine: {machine()}",
        f"* date: {when}",
        f"* command: `{command}`",
        f"* setup: the API (uvicorn, one process) on loopback against PostgreSQL (a fresh "
        f"schema) and Redis; {worker}; {args.clients} clients in {args.processes} processes "
        f"(httpx, asyncio), each sending one GET with If-None-Match and pausing "
        f"{args.interval:g} s after each answer; the API, worker, clients and PostgreSQL share "
        f"the machine's cores",
        "* errors: transport failures, 5xx, and any status but 200 and 304 (the 409 of "
        "GET .../summary while its eval has not succeeded is expected, not an error); latency "
        "is measured by the client, 304s included",
        "",
        *_polling_lines(args, results["polling"]),
        *_memory_lines(results.get("memory") or []),
    ]
    return "\n".join(lines) + "\n\n"


def main(argv: list[str] | None = None) -> None:
    args = _arguments(argv)
    if args.client_stage:
        client_main(json.loads(args.client_stage))
        return
    sizes = [int(s) for s in filter(None, args.memory_items.split(","))]
    results: dict[str, Any] = {}
    with environment(args.postgres_url, args.redis_url) as env:
        try:
            results["polling"] = part_polling(env, args)
            results["memory"] = part_memory(env, sizes)
        except BaseException:
            for name in ("api", "worker"):
                log = env.folder / f"{name}.log"
                if log.exists():
                    print(f"[load] last lines of the {name} log:\n"
                          + "\n".join(log.read_text(errors="replace").splitlines()[-40:]),
                          file=sys.stderr)
            raise
        finally:
            if args.logs:
                args.logs.mkdir(parents=True, exist_ok=True)
                for log in env.folder.glob("*.log"):
                    shutil.copy(log, args.logs / log.name)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    text = render(args, results, " ".join(["python -m bench.load",
                                           *(sys.argv[1:] if argv is None else argv)]))
    print(text)
    if not args.no_report:
        before = args.out.read_text() if args.out.exists() else ""
        gap = "" if not before or before.endswith("\n\n") else "\n" if before.endswith(
            "\n") else "\n\n"  # a blank line between the last section and this one
        with args.out.open("a") as out:
            out.write(gap + text)


if __name__ == "__main__":
    main()

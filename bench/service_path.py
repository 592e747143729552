"""MedSafe's whole service path for the benchmark: REST submit → warm worker → rows in SQL."""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
from typing import Any

import httpx
import psutil
from sqlalchemy import func, select

from cli.services import serve_api_in_thread
from service import auth, migrate
from service.config import Settings, get_settings
from service.db import session_scope
from service.evals.lifecycle import TERMINAL, EvalStatus, Stage
from service.models import Eval, Response, Shard
from service.queue.connection import embedded_redis_url
from workers.engines.bundled import bundled_model_path

# A dashboard's pace. Polling shares this machine's cores with the worker (every GET costs the
# API a few milliseconds of CPU), and the eval's time is read from its own timestamps, so a
# shorter interval would only take CPU from the worker without making the timing finer.
POLL_S = 2.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_worker(prefix: str, redis_url: str) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "cli.app",
        "worker",
        "--models",
        "bundled:smollm2",
        "--judge",
        "bundled:smollm2",
        "--queue-prefix",
        prefix,
    ]
    env = {**os.environ, "MEDSAFE_REDIS_URL": redis_url}
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)


def _client(port: int, key: str) -> httpx.Client:
    return httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60,
                        headers={"Authorization": f"Bearer {key}"})


def _wait(client: httpx.Client, eval_id: str, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(f"/v1/evals/{eval_id}").json()
        if body["status"] in TERMINAL:
            return body
        time.sleep(POLL_S)
    raise TimeoutError(f"eval {eval_id} not done after {timeout_s} s")


def _submit(
    client: httpx.Client, dataset: str, limit: int, max_tokens: int, shard_size: int
) -> str:
    answer = client.post(
        "/v1/evals",
        json={
            "model": "bundled:smollm2",
            "judge": "bundled:smollm2",
            "datasets": [dataset],
            "limit": limit,
            "shard_size": shard_size,
            "sampling": {"max_tokens": max_tokens, "temperature": 0.0, "top_p": 1.0, "seed": 0},
        },
    )
    answer.raise_for_status()
    return str(answer.json()["id"])


def _windows(eval_id: str) -> tuple[float, float, int]:
    """The eval's seconds from submit (created) to `succeeded` (finished), the seconds from
    the first generate shard's start to the last one's end, and the target's output tokens."""
    with session_scope() as session:
        evaluation = session.get_one(Eval, eval_id)
        created, finished = evaluation.created_at, evaluation.finished_at
        first, last = session.execute(
            select(func.min(Shard.started_at), func.max(Shard.finished_at)).where(
                Shard.eval_id == eval_id, Shard.stage == Stage.GENERATE
            )
        ).one()
        tokens = session.scalar(
            select(func.sum(Response.output_tokens)).where(Response.eval_id == eval_id)
        )
    if first is None or last is None or finished is None:
        raise RuntimeError(f"eval {eval_id} has not finished its generate shards")
    return (finished - created).total_seconds(), (last - first).total_seconds(), int(tokens or 0)


def _rss_mb(process: psutil.Process) -> float:
    """Memory of a process and its children in MB: the sum of their proportional set sizes
    (shared pages such as libtorch counted once across them, not once per process)."""
    procs = [process, *process.children(recursive=True)]
    return float(sum(p.memory_full_info().pss for p in procs if p.is_running())) / 2**20


def _worker_memory_parts(settings: Settings) -> dict[str, float]:
    """What the worker holds by design on a CPU: the model's weights and the KV cache that
    vLLM reserves up front (MEDSAFE_CPU_KV_CACHE_GIB, or VLLM_CPU_KVCACHE_SPACE in GiB)."""
    folder = bundled_model_path(settings.model_cache_dir)
    weights = sum(f.stat().st_size for f in folder.glob("*.safetensors"))
    space = os.environ.get("VLLM_CPU_KVCACHE_SPACE")
    kv_gib = float(space) if space else settings.cpu_kv_cache_gib
    return {"model_mb": weights / 2**20, "kv_cache_mb": kv_gib * 1024}


def medsafe(
    dataset: str, n: int, max_tokens: int, shard_size: int, repeats: int = 1,
    timeout_s: float = 3600,
) -> dict[str, Any]:
    """Submit over REST to an API in this process and a warm worker process; time the eval
    from submit to `succeeded`. `repeats` evals of the same request in a row, the median
    reported (end to end and generation window each)."""
    settings = get_settings()
    migrate.prepare_database(settings.resolved_database_url())
    with session_scope() as session:
        key = auth.create_key(session, "bench", ["admin"]).key
    prefix = f"bench{os.getpid()}"
    # The worker gets the Redis this process uses: the embedded server is started here first,
    # and named to the worker explicitly (two processes starting it at once may start two).
    redis_url = settings.redis_url or embedded_redis_url(settings)
    worker = _start_worker(prefix, redis_url)
    os.environ["MEDSAFE_QUEUE_PREFIX"] = prefix
    get_settings.cache_clear()
    port = _free_port()
    server, _ = serve_api_in_thread("127.0.0.1", port, log_level="warning")
    runs: list[tuple[float, float, int]] = []  # (end to end s, generation window s, tokens)
    statuses: list[str] = []
    unscored = 0
    try:
        with _client(port, key) as client:
            _wait(client, _submit(client, dataset, 1, 4, 1), timeout_s)  # warm the worker
            for _ in range(repeats):
                eval_id = _submit(client, dataset, n, max_tokens, shard_size)
                body = _wait(client, eval_id, timeout_s)
                runs.append(_windows(eval_id))
                statuses.append(body["status"])
                unscored += (body.get("summary") or {}).get("n_unscored") or 0
        worker_rss = _rss_mb(psutil.Process(worker.pid))
    finally:
        server.should_exit = True
        worker.terminate()
        worker.wait(60)
    seconds = statistics.median(run[0] for run in runs)
    generate_s = statistics.median(run[1] for run in runs)
    tokens = runs[0][2]
    return {
        "status": (EvalStatus.SUCCEEDED if set(statuses) == {EvalStatus.SUCCEEDED}
                   else ",".join(statuses)),
        "seconds": seconds,
        "generate_seconds": generate_s,
        "output_tokens": tokens,
        "items": n,
        "tokens_per_s": tokens / generate_s,
        "items_per_s": n / seconds,
        "runs_s": [run[0] for run in runs],
        "runs_generate_s": [run[1] for run in runs],
        "worker_rss_mb": worker_rss,
        **_worker_memory_parts(settings),
        "n_unscored": unscored,
    }


def api_memory(n_items: int, page: int) -> dict[str, Any]:
    """Peak RSS of an API process while a client pages through an eval of n_items results
    (rows written directly: this measures the API, not the model)."""
    from bench.synthetic import finished_eval

    settings = get_settings()
    migrate.prepare_database(settings.resolved_database_url())
    eval_id = finished_eval(n_items)
    with session_scope() as session:
        key = auth.create_key(session, "bench-memory", ["read"]).key
    port = _free_port()
    api = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "service.api.app:create_app",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
    )
    peak = 0.0
    try:
        with _client(port, key) as client:
            _wait_http(client)
            cursor: str | None = None
            seen = 0
            while True:
                params: dict[str, Any] = {"limit": page}
                if cursor:
                    params["cursor"] = cursor
                body = client.get(f"/v1/evals/{eval_id}/results", params=params).json()
                seen += len(body["items"])
                peak = max(peak, _rss_mb(psutil.Process(api.pid)))
                cursor = body.get("next_cursor")
                if not cursor:
                    break
    finally:
        api.terminate()
        api.wait(30)
    return {"items_paged": seen, "page": page, "api_peak_rss_mb": peak}


def _wait_http(client: httpx.Client) -> None:
    for _ in range(200):
        try:
            if client.get("/healthz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError("API did not start")

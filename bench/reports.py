"""Memory of a streamed results.csv: peak RSS growth of a real API server (uvicorn, in a
process of its own) while a client downloads the CSV of a 1,000- and a 10,000-item eval.

    python -m bench.reports [--database-url URL] [--sizes 1000 10000] [--response-chars 1000]

Without --database-url it uses a SQLite file in a temporary folder. The server's peak RSS
is reset (/proc/PID/clear_refs) after a warm-up download, so each number is the growth one
download caused; constant-memory streaming keeps it flat while the CSV grows tenfold.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from service import auth, migrate
from service.benchmarks.items import ItemKind, ItemRecord
from service.benchmarks.store import save_dataset
from service.db import session_scope, upsert
from service.evals import lifecycle
from service.evals import service as evals
from service.models import Judgment, Response, Shard
from service.pipeline.engine import SamplingSettings
from service.pipeline.judging.refusal import REFUSAL_JUDGE

JUDGE = "openai:judge"


def build_eval(url: str, n_items: int, response_chars: int = 1000, complete: bool = True) -> str:
    """An eval of n_items harmful items (a dataset of its own), every one answered with
    response_chars characters and graded, as the workers would leave it."""
    name = f"bench-{n_items}-{time.monotonic_ns()}"
    items = [ItemRecord(f"request {n} of {name}", ItemKind.HARMFUL_MEDICAL, "bench",
                        principle=n % 9 + 1) for n in range(n_items)]
    with session_scope(url) as session:
        save_dataset(session, name, items, origin="bench")
    request = evals.EvalRequest(model="openai:target", datasets=[name], judge=JUDGE,
                                sampling=SamplingSettings(seed=1), shard_size=1000)
    with session_scope(url) as session:
        eval_id = evals.submit_eval(session, request, enqueue=False).evaluation.id
        item_ids = [i for s in session.scalars(select(Shard).where(
            Shard.eval_id == eval_id, Shard.stage == "generate")) for i in s.item_ids]
    text = ("=1+1 " + "lorem ipsum " * (response_chars // 12 + 1))[:response_chars]
    for start in range(0, len(item_ids), 2000):
        _grade(url, eval_id, item_ids[start:start + 2000], text)
    if complete:
        with session_scope(url) as session:
            for shard in session.scalars(select(Shard).where(Shard.eval_id == eval_id)):
                shard.status = "succeeded"
            lifecycle.complete_eval(session, lifecycle.get_eval(session, eval_id))
    return eval_id


def _grade(url: str, eval_id: str, item_ids: list[int], text: str) -> None:
    with session_scope(url) as session:
        upsert(session, Response, [{"eval_id": eval_id, "item_id": i, "text": text,
                                    "finish_reason": "stop"} for i in item_ids],
               keys=["eval_id", "item_id"])
        upsert(session, Judgment, [{"eval_id": eval_id, "item_id": i, "judge": JUDGE,
                                    "status": "scored", "score": i % 5 + 1,
                                    "reason": "bench"} for i in item_ids],
               keys=["eval_id", "item_id", "judge"])
        upsert(session, Judgment, [{"eval_id": eval_id, "item_id": i, "judge": REFUSAL_JUDGE,
                                    "status": "scored", "refused": False,
                                    "refusal": "full_compliance"} for i in item_ids],
               keys=["eval_id", "item_id", "judge"])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for process {pid}")


def _start_server(url: str, data_dir: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {**os.environ, "MEDSAFE_DATABASE_URL": url, "MEDSAFE_DATA_DIR": data_dir}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "service.api.app:create_app",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"], env=env)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return server, base
        except httpx.TransportError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("the API server did not start")


def download(base: str, eval_id: str, headers: dict[str, str]) -> tuple[int, int, float]:
    """Stream results.csv; (bytes, CSV lines, seconds)."""
    size = lines = 0
    start = time.perf_counter()
    with httpx.stream("GET", f"{base}/v1/evals/{eval_id}/results.csv", headers=headers,
                      timeout=600) as answer:
        answer.raise_for_status()
        for chunk in answer.iter_bytes():
            size += len(chunk)
            lines += chunk.count(b"\r\n")
    return size, lines, time.perf_counter() - start


def measure(url: str, sizes: list[int], response_chars: int, data_dir: str) -> list[dict[
        str, Any]]:
    """Per size: the CSV's bytes and rows, download time and the server's peak RSS growth."""
    evals_by_size = {n: build_eval(url, n, response_chars) for n in sizes}
    with session_scope(url) as session:
        key = auth.create_key(session, "bench reports", ["read"]).key
    headers = {"Authorization": f"Bearer {key}"}
    server, base = _start_server(url, data_dir)
    results = []
    try:
        download(base, evals_by_size[min(sizes)], headers)  # warm-up: imports, pools, caches
        for n, eval_id in evals_by_size.items():
            Path(f"/proc/{server.pid}/clear_refs").write_text("5")  # peak RSS := current RSS
            before = _status_kib(server.pid, "VmRSS")
            size, lines, seconds = download(base, eval_id, headers)
            peak = _status_kib(server.pid, "VmHWM")
            results.append({"items": n, "csv_bytes": size, "csv_lines": lines,
                            "seconds": round(seconds, 2), "rss_before_mib": round(before / 1024, 1),
                            "peak_growth_mib": round((peak - before) / 1024, 2)})
    finally:
        server.terminate()
        server.wait(timeout=30)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--response-chars", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{folder}/bench.db"
        migrate.prepare_database(url)
        results = measure(url, args.sizes, args.response_chars, folder)
    print(json.dumps({"database": url.split(":", 1)[0], "response_chars": args.response_chars,
                      "results": results}, indent=2))


if __name__ == "__main__":
    main()

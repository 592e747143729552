"""The load bench, bounded: 5 polling clients for a few seconds against a real API process on
PostgreSQL and Redis (no worker, no engine), then the memory part at 100 and 1,000 items.
No timing is asserted: only that nothing failed, that ETags turned polls into 304s, and that
a submitted eval is sharded, queued and cancelled."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.load_clients import is_error, percentile, stats
from tests.conftest import POSTGRES_URL, REDIS_URL

ROOT = Path(__file__).resolve().parents[2]


def test_statistics_of_records() -> None:
    records = [("list", 200, 0.010), ("list", 304, 0.020), ("A: summary", 409, 0.030),
               ("list", 409, 0.040), ("list", 0, 0.050)]
    s = stats(records, duration=2.0)
    assert s["requests"] == 5 and s["per_s"] == 2.5
    assert s["errors"] == 2  # a 409 outside a summary, and a transport failure
    assert s["not_modified_share"] == 0.2
    assert s["p50_ms"] == pytest.approx(30.0) and s["p99_ms"] == pytest.approx(50.0)
    assert percentile([], 50) is None
    assert not is_error("B: summary", 409) and is_error("B: detail", 500)


@pytest.mark.skipif(not (POSTGRES_URL and REDIS_URL),
                    reason="the load bench runs on the real PostgreSQL and Redis")
def test_smoke_run_has_no_errors_and_answers_304s(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.load", "--clients", "5", "--processes", "1",
         "--duration", "2", "--interval", "0.05", "--no-worker", "--memory-items", "100,1000",
         "--postgres-url", POSTGRES_URL, "--redis-url", REDIS_URL, "--no-report",
         "--json", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, timeout=600, check=True)
    assert "| 1. baseline: no eval running (list, eval A) |" in done.stdout
    results = json.loads(out.read_text())
    polling = results["polling"]
    for phase in ("baseline", "running"):
        assert polling[phase]["requests"] > 0
        assert polling[phase]["errors"] == 0, polling[phase]
        assert polling[phase]["statuses"].get("304", 0) > 0, polling[phase]
    endpoints = polling["running_by_endpoint"]
    assert set(endpoints["B: summary"]["statuses"]) == {"409"}  # B is queued: no summary
    assert set(endpoints["A: summary"]["statuses"]) <= {"200", "304"}
    assert polling["eval_b"]["status_after"] == "queued" and polling["cancel_b"] == "cancelled"
    for run in results["memory"]:
        assert run["items_stored"] == run["eval_items"] == run["items"]
        expected = run["expected_shards"]
        assert run["shards"] == {"generate": expected, "judge": expected}
        assert run["jobs_queued"] == expected and run["jobs_after_cancel"] == 0
        assert run["status_after_cancel"] == "cancelled"

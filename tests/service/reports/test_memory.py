"""Constant memory: streaming the CSV of a 10,000-item eval allocates about what a
1,000-item one does (tracemalloc's peak, in this process, on SQLite). bench/reports.py
measures the same through a real API server's RSS."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

from bench.reports import build_eval
from service import db, migrate
from service.reports import tables

RESPONSE_CHARS = 1000  # 10,000 rows make an 11 MB CSV


def _peak_bytes(url: str, eval_id: str) -> tuple[int, int]:
    """(peak bytes allocated while streaming, CSV characters streamed)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        size = sum(len(chunk) for chunk in tables.chunked(
            tables.csv_lines(tables.iter_results(url, eval_id))))
        return tracemalloc.get_traced_memory()[1] - base, size
    finally:
        tracemalloc.stop()


def test_streaming_ten_times_the_rows_does_not_take_ten_times_the_memory(
        tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'memory.db'}"
    migrate.upgrade(url)
    try:
        small = build_eval(url, 1000, RESPONSE_CHARS, complete=False)
        large = build_eval(url, 10_000, RESPONSE_CHARS, complete=False)
        _peak_bytes(url, small)  # warm-up: imports, statement caches, the pool
        small_peak, small_size = _peak_bytes(url, small)
        large_peak, large_size = _peak_bytes(url, large)
    finally:
        db.get_engine(url).dispose()
    assert large_size > 9 * small_size > 9_000_000
    assert large_peak < 3 * small_peak, (small_peak, large_peak)  # rows: 10x
    print(f"peak {small_peak} B for {small_size} chars, {large_peak} B for {large_size} chars")
    assert large_peak < large_size / 2  # far from holding the whole CSV (or its rows)

"""The polling clients of the load bench (bench.load) and the statistics of what they saw.

One client process runs `clients` asyncio clients on one httpx connection pool. Each client
cycles over the URLs it is given (starting at a random one): one GET with the ETag it last
saw for that URL in If-None-Match, then `interval` seconds of pause, until the phase's
deadline. Every answer is recorded as (endpoint, status, seconds).

A request is an error when it fails in transport (status 0, timeouts included), answers 5xx,
or answers anything but 200 or 304, except the 409 that GET .../summary gives while its eval
has not succeeded (counted apart as `not_ready`).
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from collections import Counter
from typing import Any

# (endpoint name, path): the endpoint names group latencies in the report.
Url = tuple[str, str]
Record = tuple[str, int, float]  # (endpoint, status, seconds); status 0: transport error
SUMMARY_SUFFIX = "summary"  # endpoints whose 409 means "not succeeded yet"
TIMEOUT_S = 30.0


async def _client(http: Any, urls: list[Url], deadline: float, interval: float,
                  rng: random.Random, records: list[Record], errors: list[str]) -> None:
    import httpx

    etags: dict[str, str] = {}
    index = rng.randrange(len(urls))
    await asyncio.sleep(rng.uniform(0, interval))  # spread the clients over one interval
    while time.monotonic() < deadline:
        name, path = urls[index % len(urls)]
        index += 1
        headers = {"If-None-Match": etags[path]} if path in etags else {}
        start = time.perf_counter()
        try:
            answer = await http.get(path, headers=headers)
            status = answer.status_code
            if etag := answer.headers.get("etag"):
                etags[path] = etag
            if is_error(name, status) and len(errors) < 20:
                errors.append(f"{name} {path}: {status} {answer.text[:200]}")
        except httpx.HTTPError as exc:
            status = 0
            if len(errors) < 20:
                errors.append(f"{name} {path}: {type(exc).__name__} {exc}")
        records.append((name, status, time.perf_counter() - start))
        await asyncio.sleep(interval)


async def _run(payload: dict[str, Any]) -> dict[str, Any]:
    import httpx

    urls: list[Url] = [(str(name), str(path)) for name, path in payload["urls"]]
    clients = int(payload["clients"])
    records: list[Record] = []
    errors: list[str] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=payload["base_url"], timeout=TIMEOUT_S, limits=limits,
        headers={"Authorization": f"Bearer {payload['key']}"},
    ) as http:
        # All client processes start together: at start_at, on the wall clock.
        await asyncio.sleep(max(0.0, float(payload["start_at"]) - time.time()))
        deadline = time.monotonic() + float(payload["duration"])
        rng = random.Random(int(payload.get("seed", 0)))
        await asyncio.gather(*(
            _client(http, urls, deadline, float(payload["interval"]),
                    random.Random(rng.random()), records, errors)
            for _ in range(clients)))
    return {"records": records, "errors": errors}


def client_main(payload: dict[str, Any]) -> None:
    """The client process: poll, then write the records to payload['out'] as JSON."""
    result = asyncio.run(_run(payload))
    with open(payload["out"], "w") as out:
        json.dump(result, out)


def is_error(name: str, status: int) -> bool:
    if status in (200, 304):
        return False
    return not (status == 409 and name.endswith(SUMMARY_SUFFIX))


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def stats(records: list[Record], duration: float) -> dict[str, Any]:
    """Requests, errors, status counts, 304 share and latency percentiles (ms) of records."""
    statuses = Counter(status for _, status, _ in records)
    latencies = [seconds * 1000 for _, _, seconds in records]
    n = len(records)
    return {
        "requests": n,
        "per_s": n / duration if duration else None,
        "errors": sum(1 for name, status, _ in records if is_error(name, status)),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "not_modified_share": statuses.get(304, 0) / n if n else None,
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies, default=None),
    }


def by_endpoint(records: list[Record], duration: float) -> dict[str, dict[str, Any]]:
    names = sorted({name for name, _, _ in records})
    return {name: stats([r for r in records if r[0] == name], duration) for name in names}

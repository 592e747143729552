"""Drill: the judge is an OpenAI-compatible HTTP server that answers 500s and times out.
Requests that fail a while are retried (the SDK's backoff) and graded; requests that fail
for good leave their item unscored with the reason, and the rest of the eval completes.
Ends with verify: every item answered once and graded once, scored or saying why not."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import redis
from sqlalchemy import select

from service.db import session_scope
from service.models import Judgment
from tests.faults import drills
from workers.engines.http_engine import OpenAIEngine

JUDGE = "openai:drill-judge"
N_ITEMS, SHARD_SIZE = 12, 3
TIMEOUT_S = 1.0  # the engine's request timeout; a stall outlasts it
# Per item (request N): what the server does with its first requests, then it answers.
SCRIPT: dict[int, list[str]] = {
    1: ["500", "500"],  # recovers on the SDK's second retry
    2: ["stall"],  # one timeout, then an answer
    4: ["500", "stall"],
    5: ["500"] * 10,  # fails for good: unscored, saying why
    7: ["stall"] * 10,  # times out for good
}
FAILED_FOR_GOOD = {5, 7}


class JudgeServer:
    """Grades every answer with a JSON score, after the scripted failures of its item."""

    def __init__(self) -> None:
        self.seen: Counter[int] = Counter()
        self.lock = threading.Lock()

    def next_action(self, body: dict[str, Any]) -> tuple[int, str]:
        text = body["messages"][-1]["content"]
        item = int(re.findall(r"request (\d+)\b", text)[0])
        with self.lock:
            attempt = self.seen[item]
            self.seen[item] += 1
        script = SCRIPT.get(item, [])
        return item, script[attempt] if attempt < len(script) else "ok"


def _handler(server: JudgeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            item, action = server.next_action(body)
            if action == "stall":
                time.sleep(3 * TIMEOUT_S)
            if action == "500":
                self._send(500, {"error": {"message": "scripted 500"}})
                return
            grade = json.dumps({"reason": f"item {item}", "score": 1 + item % 5})
            self._send(200, {"id": "x", "object": "chat.completion", "created": 0,
                             "model": body["model"], "choices": [{
                                 "index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": grade}}],
                             "usage": {"prompt_tokens": 1, "completion_tokens": 1,
                                       "total_tokens": 2}})

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("retry-after-ms", "10")
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the client gave up on a stalled request

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def judge_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, JudgeServer]]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    script = JudgeServer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(script))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", script
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_judge_answering_500s_and_timeouts(db_url: str, conn: redis.Redis, prefix: str,
                                           judge_url: tuple[str, JudgeServer]) -> None:
    url, server = judge_url
    eval_id = drills.submit(db_url, conn, prefix, N_ITEMS, SHARD_SIZE, judge=JUDGE)
    engines = drills.Engines(extra={JUDGE: OpenAIEngine(
        JUDGE, "drill-judge", url, "sk-drill", concurrency=3, max_retries=2,
        timeout_s=TIMEOUT_S)})
    took = drills.drain(db_url, conn, prefix, engines, judge=JUDGE)
    report = drills.verified(db_url, eval_id)
    assert report.grades[JUDGE] == N_ITEMS and report.n_unscored == len(FAILED_FOR_GOOD)
    with session_scope(db_url) as session:
        unscored = {(row.reason or "").split(":")[0] for row in session.execute(
            select(Judgment.reason).where(Judgment.eval_id == eval_id, Judgment.judge == JUDGE,
                                          Judgment.status == "unscored"))}
    assert unscored == {"the judge's request failed"}
    assert all(server.seen[item] == 3 for item in FAILED_FOR_GOOD)  # 1 + max_retries
    assert set(drills.shard_attempts(db_url, eval_id).values()) == {1}
    print(f"\ndrill http-judge: {sum(server.seen.values())} judge requests for {N_ITEMS} "
          f"items, {len(FAILED_FOR_GOOD)} unscored saying why, eval done in {took:.1f} s, "
          f"verify: consistent")

"""A scripted OpenAI-compatible server on the loopback interface, for the HTTP engine's tests.

respx cannot stand in for it: the openai SDK (3.x) sends through httpx2, which respx does
not patch. A real socket also exercises the SDK's retries exactly as a server would.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class ServerScript:
    """What the server answers and what it saw: failures go out first, one per request."""

    failures: list[int] = field(default_factory=list)  # HTTP statuses to answer first
    delay_s: float = 0.0  # time each successful answer takes
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    # A context length in tokens (4 characters each, 4 more per message): a longer prompt
    # is refused with 400 and the message vLLM's server sends.
    context_limit: int | None = None
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_failure(self) -> int | None:
        with self.lock:
            return self.failures.pop(0) if self.failures else None


def prompt_tokens(body: dict[str, Any]) -> int:
    """The scripted server's token count of a request's messages."""
    return sum(-(-len(m["content"]) // 4) + 4 for m in body["messages"])


def too_long(script: ServerScript, body: dict[str, Any]) -> str | None:
    """vLLM's refusal of a prompt that does not fit beside max_tokens, or None."""
    if script.context_limit is None:
        return None
    prompt, completion_tokens = prompt_tokens(body), int(body.get("max_completion_tokens", 0))
    if prompt + completion_tokens <= script.context_limit:
        return None
    return (f"This model's maximum context length is {script.context_limit} tokens. However, "
            f"you requested {prompt + completion_tokens} tokens ({prompt} in the messages, "
            f"{completion_tokens} in the completion). Please reduce the length of the "
            "messages or completion.")


def reply_to(prompt: str) -> str:
    """The fake model's answer: it names the prompt, so tests can check the order."""
    return f"answer to: {prompt}"


def completion(body: dict[str, Any]) -> dict[str, Any]:
    prompt = body["messages"][-1]["content"]
    text = reply_to(prompt)
    choice: dict[str, Any] = {"index": 0, "finish_reason": "stop",
                              "message": {"role": "assistant", "content": text}}
    if body.get("logprobs"):
        # As OpenAI answers: the first token and its top alternatives; " 4" and "4" are two
        # spellings of one score, and "Grade" is no score at all.
        alternatives = [("4", -0.5), (" 4", -2.0), ("2", -1.5), ("Grade", -3.0)]
        choice["logprobs"] = {"content": [{
            "token": "4", "logprob": -0.5, "bytes": None,
            "top_logprobs": [{"token": t, "logprob": lp, "bytes": None}
                             for t, lp in alternatives[:body.get("top_logprobs", 4)]]}]}
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": body["model"],
        "choices": [choice],
        "usage": {
            "prompt_tokens": len(prompt.split()),
            "completion_tokens": len(text.split()),
            "total_tokens": len(prompt.split()) + len(text.split()),
        },
    }


def _handler(script: ServerScript) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with script.lock:
                script.requests.append(body)
                script.headers.append({k.lower(): v for k, v in self.headers.items()})
            refusal = too_long(script, body)
            if refusal is not None:
                self._send(400, {"error": {"message": refusal, "type": "BadRequestError",
                                           "code": 400}}, {})
                return
            status = script.next_failure()
            if status is not None:
                self._send(
                    status, {"error": {"message": f"scripted {status}"}}, {"retry-after-ms": "1"}
                )
                return
            with script.lock:
                script.in_flight += 1
                script.max_in_flight = max(script.max_in_flight, script.in_flight)
            time.sleep(script.delay_s)
            with script.lock:
                script.in_flight -= 1
            self._send(200, completion(body), {})

        def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def serve(script: ServerScript) -> Iterator[str]:
    """Run the server on 127.0.0.1 (a free port) and yield its /v1 base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(script))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()

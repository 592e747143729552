"""The body guard: no body is read before the caller's key is checked, and a body is counted
as it arrives, chunked or declared, so an oversized one stops at its limit."""

from __future__ import annotations

import select as io_select
import socket
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from service.api.app import create_app
from service.db import session_scope
from service.models import Dataset, Eval
from tests.live_server import live_server

CHUNK = 64 * 1024


class Body:
    """A chunked request body (no Content-Length) that counts what the server pulled."""

    def __init__(self, n_chunks: int, first: bytes = b"") -> None:
        self.n_chunks, self.first, self.pulled = n_chunks, first, 0

    def __iter__(self) -> Iterator[bytes]:
        if self.first:
            self.pulled += 1
            yield self.first
        for _ in range(self.n_chunks):
            self.pulled += 1
            yield b" " * CHUNK


def _counts(url: str) -> tuple[int, int]:
    with session_scope(url) as session:
        return (session.scalar(select(func.count()).select_from(Eval)) or 0,
                session.scalar(select(func.count()).select_from(Dataset)) or 0)


@pytest.mark.parametrize("who", ["nobody", "reader", "bad key"])
def test_a_body_is_not_read_before_the_key_is_checked(
        api_settings: str, client: TestClient, reader: dict[str, str], who: str) -> None:
    headers = {"nobody": {}, "reader": reader,
               "bad key": {"Authorization": "Bearer msk_nothing"}}[who]
    body = Body(300)  # ~19 MB, chunked
    answer = client.post("/v1/evals", content=body, headers={
        **headers, "content-type": "application/json"})
    assert answer.status_code == (403 if who == "reader" else 401), answer.text
    assert body.pulled <= 1  # at most what the transport pushed before the answer
    assert _counts(api_settings) == (0, 0)


@pytest.fixture
def server(api_settings: str) -> Iterator[tuple[str, int, FastAPI]]:
    """The app on a real HTTP server (uvicorn, loopback): a test client would read a whole
    body before the app sees its first byte."""
    app = create_app()
    with live_server(app) as port:
        yield "127.0.0.1", port, app


def _send_chunked(address: tuple[str, int], path: str, headers: dict[str, str],
                  body: Body) -> tuple[int, int]:
    """POST the body chunked over a raw socket, chunk by chunk, until the server answers or
    closes; (status, chunks sent)."""
    with socket.create_connection(address, timeout=20) as conn:
        lines = [f"POST {path} HTTP/1.1", f"Host: {address[0]}", "Transfer-Encoding: chunked",
                 *(f"{k}: {v}" for k, v in headers.items())]
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        sent = 0
        try:
            for chunk in body:
                conn.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                sent += 1
                if io_select.select([conn], [], [], 0)[0]:
                    break  # the answer is there: stop sending
            else:
                conn.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server closed the connection after its answer
        answer = conn.recv(65536).decode(errors="replace")
    return int(answer.split(" ", 2)[1]), sent


def test_a_chunked_json_body_stops_at_its_limit(
        server: tuple[str, int, FastAPI], api_settings: str, writer: dict[str, str]) -> None:
    host, port, _ = server
    body = Body(300, first=b'{"model": "bundled:smollm2", "datasets": ["x"], "system_prompt": "')
    status, sent = _send_chunked((host, port), "/v1/evals", {
        **writer, "Content-Type": "application/json"}, body)
    assert status == 413
    assert sent < 150  # stopped near the 1 MiB limit, long before the 19 MB were sent
    assert _counts(api_settings) == (0, 0)


def test_a_declared_oversized_body_is_refused_before_reading(
        api_settings: str, client: TestClient, writer: dict[str, str]) -> None:
    answer = client.post("/v1/evals", content=b"x" * (1024 * 1024 + 1),
                         headers={**writer, "content-type": "application/json"})
    assert answer.status_code == 413
    assert answer.headers["connection"] == "close"
    assert "MEDSAFE_MAX_REQUEST_KB" in answer.json()["detail"]


def test_a_chunked_upload_stops_at_the_upload_limit(
        server: tuple[str, int, FastAPI], api_settings: str, writer: dict[str, str]) -> None:
    host, port, app = server
    app.state.max_upload_bytes = 256 * 1024
    boundary = "medsafeboundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nbig\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"category_1.csv\"\r\nContent-Type: text/csv\r\n\r\n").encode()
    body = Body(300, first=head)  # ~19 MB of file, chunked
    status, sent = _send_chunked((host, port), "/v1/datasets", {
        **writer, "Content-Type": f"multipart/form-data; boundary={boundary}"}, body)
    assert status == 413
    assert sent < 150
    assert _counts(api_settings) == (0, 0)


def test_bodies_within_the_limits_still_work(api_settings: str, client: TestClient,
                                             writer: dict[str, str]) -> None:
    answer = client.post("/v1/evals", json={"model": "bundled:smollm2", "datasets": ["none"]},
                         headers=writer)
    assert answer.status_code == 422  # read, parsed and validated: the dataset is unknown
    assert "none" in answer.json()["detail"]

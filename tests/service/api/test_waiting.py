"""An eval whose model no live worker serves says so, and stops saying so once one does."""

from __future__ import annotations

from fastapi.testclient import TestClient
from rq import Queue, Worker

from service.queue import connection as queue_connection
from service.queue.jobs import queue_name
from tests.service.api.conftest import add_dataset

BODY = {"model": "bundled:smollm2", "datasets": ["msb"], "limit": 2}


def test_an_eval_nobody_serves_says_which_worker_to_start(
        own_queues: str, api_settings: str, client: TestClient, writer: dict[str, str],
        reader: dict[str, str]) -> None:
    add_dataset(api_settings)
    eval_id = client.post("/v1/evals", json=BODY, headers=writer).json()["id"]
    waiting = client.get(f"/v1/evals/{eval_id}", headers=reader).json()["waiting"]
    queue = queue_name("generate", "bundled:smollm2", prefix=own_queues)
    assert waiting == (f"no live worker serves bundled:smollm2 (generate shards wait on "
                       f"{queue}): start one with `medsafe worker --models bundled:smollm2`")
    connection = queue_connection.redis_connection()
    worker = Worker([Queue(queue, connection=connection)], connection=connection,
                    name=f"{own_queues}-listener")
    worker.register_birth()
    try:
        assert client.get(f"/v1/evals/{eval_id}", headers=reader).json()["waiting"] is None
    finally:
        worker.register_death()
    cancelled = client.post(f"/v1/evals/{eval_id}/cancel", headers=writer).json()
    assert cancelled["waiting"] is None  # a finished eval waits for nothing

"""A worker's log lines in JSON: while it runs a shard, every line (the engine's, RQ's own)
names the eval, the stage and the shard's index, and the lines between shards name none."""

from __future__ import annotations

import io
import json
import logging
from collections import defaultdict
from typing import Any

import redis

from service.benchmarks.items import ItemKind, ItemRecord
from service.observability.logs import handler_for
from service.pipeline.engine import Conversation
from tests import queue_support
from tests.fakes import FakeEngine
from workers.worker import run_worker

TARGET = "fake/target"
JUDGE = "fake/judge"
engine_log = logging.getLogger("tests.engine")


def _answer(conversation: Conversation) -> str:
    engine_log.info("answering")
    return "Sure."


def _grade(conversation: Conversation) -> str:
    engine_log.info("grading")
    return json.dumps({"reason": "complies", "score": 4})


def test_a_shards_log_lines_carry_its_eval_stage_and_index(
        db_url: str, conn: redis.Redis, prefix: str) -> None:
    items = [ItemRecord(f"request {i}", ItemKind.HARMFUL_MEDICAL, "test", principle=1 + i)
             for i in range(4)]
    eval_id = queue_support.submit(db_url, conn, prefix, items, TARGET, JUDGE, shard_size=2)
    engines = {TARGET: FakeEngine(_answer, TARGET), JUDGE: FakeEngine(_grade, JUDGE)}
    stream = io.StringIO()
    handler = handler_for("json", stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        run_worker([TARGET], JUDGE, burst=True, name=f"{prefix}-worker",
                   engines=engines.__getitem__, connection=conn, db_url=db_url, prefix=prefix)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)

    lines: list[dict[str, Any]] = [json.loads(line) for line in stream.getvalue().splitlines()]
    by_shard: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for line in lines:
        if "shard_index" in line:
            assert line["eval_id"] == eval_id
            by_shard[(line["stage"], line["shard_index"])].append(line)
    assert set(by_shard) == {(stage, index) for stage in ("generate", "judge")
                             for index in (0, 1)}
    for (stage, index), shard_lines in by_shard.items():
        messages = [line["message"] for line in shard_lines]
        # the engine's line for each item of the shard, and RQ's own line for the job
        assert messages.count("answering" if stage == "generate" else "grading") == 2
        assert any("Job OK" in message for message in messages), messages
        assert {line["job_id"] for line in shard_lines if line["logger"] == "rq.worker"} \
            == {f"{eval_id}-{stage}-{index}"}
    idle = [line for line in lines if "done, quitting" in line["message"]]
    assert idle and all("eval_id" not in line for line in idle)

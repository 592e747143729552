"""What every fault drill shares: a small eval on the real PostgreSQL and Redis, a burst
worker around fake engines, and the check every drill ends with (`medsafe verify`)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field

import redis
from sqlalchemy import select

from service.benchmarks.items import ItemKind, ItemRecord
from service.db import session_scope
from service.evals.verify import VerifyReport, verify_eval
from service.models import Shard
from service.pipeline.engine import Conversation, Engine
from tests import queue_support
from tests.fakes import FakeEngine
from workers.worker import run_worker

TARGET = "fake/target"
JUDGE = "fake/judge"
# How long a drill's outage lasts: short in `make test`, 30 s in `make drills`.
OUTAGE_S = float(os.environ.get("MEDSAFE_DRILL_OUTAGE_S", "3"))


def items(n: int) -> list[ItemRecord]:
    """Harmful requests over the nine principles, and a benign question every fourth."""
    return [ItemRecord(f"request {i}", ItemKind.BENIGN_MEDICAL if i % 4 == 3
                       else ItemKind.HARMFUL_MEDICAL, "drill",
                       principle=None if i % 4 == 3 else 1 + i % 9) for i in range(n)]


def submit(url: str, conn: redis.Redis, prefix: str, n_items: int, shard_size: int,
           judge: str = JUDGE) -> str:
    return queue_support.submit(url, conn, prefix, items(n_items), TARGET, judge, shard_size)


def judge_reply(conversation: Conversation) -> str:
    text = conversation[-1]["content"]
    return json.dumps({"reason": "drill", "score": 1 + len(text) % 5})


@dataclass
class Engines:
    """Fake target and judge; on_answer runs before every answer (to inject a fault)."""

    answer_s: float = 0.0
    on_answer: list[object] = field(default_factory=list)
    extra: dict[str, Engine] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.target = FakeEngine(self._answer, TARGET)
        self.judge = FakeEngine(judge_reply, JUDGE)

    def _answer(self, conversation: Conversation) -> str:
        for hook in self.on_answer:
            assert callable(hook)
            hook(conversation)
        time.sleep(self.answer_s)
        return f"Sure: {conversation[-1]['content']}"

    def __call__(self, spec: str) -> Engine:
        return self.extra.get(spec) or {TARGET: self.target, JUDGE: self.judge}[spec]


def drain(url: str, conn: redis.Redis, prefix: str, engines: Engines,
          judge: str = JUDGE) -> float:
    """Run a burst worker until the queues are empty; the seconds it took."""
    started = time.monotonic()
    run_worker([TARGET], judge, burst=True, name=f"{prefix}-drill", engines=engines,
               connection=conn, db_url=url, prefix=prefix)
    return time.monotonic() - started


def verified(url: str, eval_id: str) -> VerifyReport:
    """`medsafe verify`'s report, asserted consistent."""
    with session_scope(url) as session:
        report = verify_eval(session, eval_id)
    assert report.consistent, [p.detail for p in report.problems]
    return report


def shard_attempts(url: str, eval_id: str) -> dict[str, int]:
    with session_scope(url) as session:
        return {f"{row.stage}-{row.index}": row.attempts for row in session.execute(
            select(Shard.stage, Shard.index, Shard.attempts).where(Shard.eval_id == eval_id))}

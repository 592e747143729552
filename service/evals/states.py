"""The statuses of evals and shards, and the stages every eval runs through (the transitions
between them are service.evals.lifecycle's)."""

from __future__ import annotations

from enum import StrEnum


class EvalStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class ShardStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Stage(StrEnum):
    """Every eval runs its shards through these stages, in this order."""

    GENERATE = "generate"
    JUDGE = "judge"


TERMINAL = frozenset({EvalStatus.SUCCEEDED, EvalStatus.FAILED, EvalStatus.CANCELLED})
OPEN = frozenset({EvalStatus.QUEUED, EvalStatus.RUNNING})
OPEN_SHARD = frozenset({ShardStatus.QUEUED, ShardStatus.RUNNING})

"""Fine-tune rows: statuses and every transition, where adapters live, and the checks an
eval of an adapter needs. Reads and writes the session; never commits."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.config import Settings
from service.errors import InvalidInput, NotFound
from service.model_specs import parse_spec
from service.models import Finetune


class FinetuneStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = frozenset({FinetuneStatus.SUCCEEDED, FinetuneStatus.FAILED,
                      FinetuneStatus.CANCELLED})


def artifact_dir(settings: Settings, finetune_id: str) -> Path:
    """Where a fine-tune writes its adapter (adapter/) and its trainer's scratch files."""
    return settings.resolved_artifacts_dir() / "finetunes" / finetune_id


def adapter_dir(settings: Settings, finetune_id: str) -> Path:
    return artifact_dir(settings, finetune_id) / "adapter"


def get_finetune(session: Session, finetune_id: str, *, lock: bool = False) -> Finetune:
    finetune = session.get(Finetune, finetune_id, with_for_update=lock,
                           populate_existing=lock)  # a lock reads the row as it is now
    if finetune is None:
        raise NotFound(f"no fine-tune {finetune_id!r}")
    return finetune


def list_finetunes(session: Session, status: str | None = None,
                   limit: int = 100) -> list[Finetune]:
    query = select(Finetune).order_by(Finetune.created_at.desc(), Finetune.id).limit(limit)
    if status is not None:
        query = query.where(Finetune.status == status)
    return list(session.scalars(query))


def check_adapter_spec(session: Session, spec: str) -> None:
    """An eval may target <base>+lora:<id> only when fine-tune <id> of that base succeeded;
    InvalidInput (422) saying why not. Other specs pass unchanged."""
    parsed = parse_spec(spec)
    if parsed.adapter is None:
        return
    finetune = session.get(Finetune, parsed.adapter)
    if finetune is None:
        raise InvalidInput(f"{spec!r}: no fine-tune {parsed.adapter!r}")
    if finetune.base != parsed.base_text:
        raise InvalidInput(f"{spec!r}: fine-tune {finetune.id} trained {finetune.base!r}, "
                           f"not {parsed.base_text!r}; its model is {finetune.model!r}")
    if finetune.status != FinetuneStatus.SUCCEEDED:
        raise InvalidInput(f"{spec!r}: fine-tune {finetune.id} is {finetune.status}; evals "
                           "of its adapter can start once it succeeded")


def training_hashes(session: Session, spec: str) -> set[str]:
    """The normalised-text hashes of the requests a model spec's adapter was trained on
    (empty for a model that is not an adapter, or whose fine-tune is gone)."""
    parsed = parse_spec(spec)
    if parsed.adapter is None:
        return set()
    finetune = session.get(Finetune, parsed.adapter)
    return set(finetune.prompt_hashes) if finetune is not None else set()


def claim_finetune(session: Session, finetune_id: str, worker: str) -> Finetune | None:
    """queued -> running for this worker; None when it is not queued (cancelled, done, or
    another worker has it)."""
    finetune = session.get(Finetune, finetune_id, with_for_update=True,
                           populate_existing=True)
    if finetune is None or finetune.status != FinetuneStatus.QUEUED:
        return None
    finetune.status = FinetuneStatus.RUNNING
    finetune.worker = worker
    finetune.started_at = datetime.now(UTC)
    finetune.error = None
    return finetune


def record_progress(session: Session, finetune_id: str, progress: dict[str, Any],
                    loss_curve: list[list[float]]) -> None:
    finetune = get_finetune(session, finetune_id)
    if finetune.status == FinetuneStatus.RUNNING:
        finetune.progress = progress
        finetune.loss_curve = [list(point) for point in loss_curve]


def is_cancelled(session: Session, finetune_id: str) -> bool:
    """Training should stop: the fine-tune is no longer running (cancelled, failed by the
    reconciler, or gone)."""
    status = session.scalar(select(Finetune.status).where(Finetune.id == finetune_id))
    return status != FinetuneStatus.RUNNING


def complete_finetune(session: Session, finetune_id: str, adapter_path: str,
                      loss_curve: list[list[float]], artifact: dict[str, Any]) -> bool:
    """running -> succeeded with the adapter; False (nothing written) when it was cancelled
    meanwhile."""
    finetune = get_finetune(session, finetune_id, lock=True)
    if finetune.status != FinetuneStatus.RUNNING:
        return False
    finetune.status = FinetuneStatus.SUCCEEDED
    finetune.adapter_path = adapter_path
    finetune.loss_curve = [list(point) for point in loss_curve]
    finetune.artifact = artifact
    finetune.finished_at = datetime.now(UTC)
    return True


def fail_finetune(session: Session, finetune_id: str, error: str) -> None:
    finetune = get_finetune(session, finetune_id, lock=True)
    if finetune.status not in FINISHED:
        finetune.status = FinetuneStatus.FAILED
        finetune.error = error
        finetune.finished_at = datetime.now(UTC)


def cancel_finetune(session: Session, finetune_id: str) -> Finetune:
    """Queued or running -> cancelled (a running one stops at its next step); a finished one
    is returned unchanged."""
    finetune = get_finetune(session, finetune_id, lock=True)
    if finetune.status not in FINISHED:
        finetune.status = FinetuneStatus.CANCELLED
        finetune.finished_at = datetime.now(UTC)
    return finetune

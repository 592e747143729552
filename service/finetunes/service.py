"""Submitting, reading and cancelling fine-tunes: the one path the REST API, `medsafe
finetune` and mitigation studies take. Everything is checked before anything is written;
the job is enqueued only after the caller's transaction commits."""

from __future__ import annotations

from dataclasses import dataclass

from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.audit import Actor, AuditAction, local_actor, record, stamp
from service.benchmarks.items import normalised_text_hash
from service.benchmarks.store import resolve_dataset
from service.config import get_settings
from service.errors import InvalidInput, NotFound
from service.finetunes.reconcile import local_owner
from service.finetunes.schemas import (
    FinetuneCreate,
    FinetuneLinks,
    FinetuneProgress,
    FinetuneRead,
    LoraSettings,
)
from service.finetunes.store import FINISHED, FinetuneStatus, cancel_finetune, get_finetune
from service.model_specs import EngineKind, adapter_spec, parse_spec, validate_model_spec
from service.models import Dataset, Finetune, Item, new_id
from service.queue import jobs
from service.queue.connection import redis_connection


@dataclass(frozen=True)
class Demonstration:
    """A training pair: a request and the safe (or helpful) reply to learn."""

    prompt: str
    response: str


def check_base(spec: str) -> None:
    """A base to fine-tune: a bundled model or a vLLM model (folder or hub id) whose weights
    can be trained; InvalidInput otherwise."""
    validate_model_spec(spec)
    parsed = parse_spec(spec)
    if parsed.adapter is not None:
        raise InvalidInput(f"{spec!r} is already an adapter: fine-tune its base "
                           f"{parsed.base_text!r} on the combined demonstrations instead")
    if parsed.kind is EngineKind.OPENAI:
        raise InvalidInput(f"{spec!r} is a hosted model: fine-tuning needs the weights "
                           "(bundled:smollm2, a model folder or a Hugging Face id)")


def demonstration_datasets(session: Session, names: list[str]) -> list[Dataset]:
    """The named datasets (422 for an unknown one), each with at least one demonstration."""
    datasets = []
    for name in names:
        try:
            dataset = resolve_dataset(session, name)
        except NotFound as exc:
            raise InvalidInput(exc.detail) from exc
        has_one = session.scalar(select(Item.id).where(
            Item.dataset_id == dataset.id, Item.reference.is_not(None)).limit(1))
        if has_one is None:
            raise InvalidInput(
                f"dataset {dataset.name!r} has no demonstrations (items with a reference "
                "reply): import a MedSafetyBench training split, an Alpaca-style mix, or "
                "use builtin:safety-demos")
        datasets.append(dataset)
    return datasets


def demonstrations(session: Session, dataset_ids: list[int]) -> list[Demonstration]:
    """The training pairs of the datasets, in a stable order (dataset, then item)."""
    rows = session.execute(
        select(Item.prompt, Item.reference)
        .where(Item.dataset_id.in_(dataset_ids), Item.reference.is_not(None))
        .order_by(Item.dataset_id, Item.id)).all()
    return [Demonstration(row.prompt, row.reference) for row in rows if row.reference.strip()]


def submit_finetune(session: Session, body: FinetuneCreate, *, enqueue: bool = True,
                    connection: Redis | None = None, prefix: str | None = None,
                    creator: Actor | None = None) -> Finetune:
    """Write a queued fine-tune and, with enqueue, queue its job after the commit. `creator`
    (default: the local user) is recorded as its creator and in the audit log."""
    check_base(body.base)
    served = get_settings().max_lora_rank
    if body.lora.rank > served:
        raise InvalidInput(f"LoRA rank {body.lora.rank} is above MEDSAFE_MAX_LORA_RANK="
                           f"{served}, the largest rank the workers serve: lower the rank, or "
                           "raise the setting on the API and every worker")
    datasets = demonstration_datasets(session, body.datasets)
    dataset_ids = [dataset.id for dataset in datasets]
    finetune_id = new_id()
    demos = demonstrations(session, dataset_ids)
    settings = {"lora": body.lora.model_dump(mode="json"), "system_prompt": body.system_prompt,
                "datasets": [dataset.name for dataset in datasets],
                "n_demonstrations": len(demos)}
    finetune = Finetune(
        # Not queued for a worker: this process trains it (the reconciler leaves it alone).
        worker=None if enqueue else local_owner(),
        id=finetune_id, status=FinetuneStatus.QUEUED, base=body.base,
        model=adapter_spec(body.base, finetune_id), dataset_ids=dataset_ids, settings=settings,
        prompt_hashes=sorted({normalised_text_hash(demo.prompt) for demo in demos}),
        loss_curve=[])
    actor = creator or local_actor()
    stamp(finetune, actor)
    session.add(finetune)
    session.flush()
    record(session, actor, AuditAction.FINETUNE_SUBMIT, "finetune", finetune_id,
           base=body.base, datasets=settings["datasets"])
    if enqueue:
        jobs.after_commit(session, lambda: _enqueue(finetune_id, connection, prefix),
                          f"enqueue fine-tune {finetune_id}")
    return finetune


def _enqueue(finetune_id: str, connection: Redis | None, prefix: str | None) -> None:
    jobs.enqueue_finetune(connection or redis_connection(), finetune_id, prefix=prefix)


def cancel(session: Session, finetune_id: str, *, connection: Redis | None = None,
           actor: Actor | None = None) -> Finetune:
    """Cancel a fine-tune: a queued job is dropped after the commit, a running one stops at
    its next training step and saves nothing. A finished one is returned unchanged; a
    cancellation is recorded in the audit log under `actor` (default: the local user)."""
    was_finished = get_finetune(session, finetune_id).status in FINISHED
    finetune = cancel_finetune(session, finetune_id)
    if not was_finished:
        record(session, actor or local_actor(), AuditAction.FINETUNE_CANCEL, "finetune",
               finetune_id)
        jid = jobs.finetune_job_id(finetune_id)
        jobs.after_commit(session, lambda: jobs.discard_waiting_jobs(
            connection or redis_connection(), [jid]), f"discard fine-tune {finetune_id}")
    return finetune


def lora_settings(finetune: Finetune) -> LoraSettings:
    return LoraSettings.model_validate(finetune.settings["lora"])


def finetune_read(finetune: Finetune, base_url: str = "/v1") -> FinetuneRead:
    curve = [list(point) for point in finetune.loss_curve or []]
    return FinetuneRead(
        id=finetune.id, status=finetune.status, base=finetune.base, model=finetune.model,
        datasets=list(finetune.settings.get("datasets", [])),
        n_demonstrations=int(finetune.settings.get("n_demonstrations", 0)),
        settings=finetune.settings,
        progress=(FinetuneProgress.model_validate(finetune.progress)
                  if finetune.progress else None),
        loss_first=curve[0][1] if curve else None, loss_last=curve[-1][1] if curve else None,
        loss_curve=curve, adapter_path=finetune.adapter_path, artifact=finetune.artifact,
        error=finetune.error, created_at=finetune.created_at, started_at=finetune.started_at,
        finished_at=finetune.finished_at,
        links=FinetuneLinks(self=f"{base_url}/finetunes/{finetune.id}",
                            cancel=f"{base_url}/finetunes/{finetune.id}/cancel"))

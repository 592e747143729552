"""/v1/finetunes and /v1/mitigations: fine-tune a model on safety demonstrations (LoRA), and
the whole before/after study in one request."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from service.api.deps import CurrentKey, SessionDep, SettingsDep, WriteKey
from service.audit import key_actor
from service.auth import require_owner
from service.finetunes import mitigations, store
from service.finetunes import service as finetunes
from service.finetunes.schemas import (
    FinetuneCreate,
    FinetuneList,
    FinetuneRead,
    MitigationCreate,
    MitigationList,
    MitigationRead,
)
from service.finetunes.store import FinetuneStatus

router = APIRouter(tags=["mitigation"])


@router.post("/finetunes", status_code=202, response_model=FinetuneRead)
def create_finetune(body: FinetuneCreate, session: SessionDep, key: WriteKey) -> FinetuneRead:
    """Queue a LoRA fine-tune of `base` on the demonstrations of `datasets` (items with a
    safe reference reply) for a `medsafe worker --finetune`. Its adapter becomes the model
    spec in `model` (<base>+lora:<id>) once it succeeded; poll GET /v1/finetunes/{id}."""
    return finetunes.finetune_read(
        finetunes.submit_finetune(session, body, creator=key_actor(key)))


@router.get("/finetunes", response_model=FinetuneList)
def list_finetunes(session: SessionDep, _key: CurrentKey,
                   status: FinetuneStatus | None = None,
                   limit: Annotated[int, Query(ge=1, le=500)] = 50) -> FinetuneList:
    """Fine-tunes, newest first."""
    return FinetuneList(items=[finetunes.finetune_read(f)
                               for f in store.list_finetunes(session, status, limit)])


@router.get("/finetunes/{finetune_id}", response_model=FinetuneRead)
def read_finetune(finetune_id: str, session: SessionDep, _key: CurrentKey) -> FinetuneRead:
    """A fine-tune with its live progress (step, loss, tokens/s) and loss curve."""
    return finetunes.finetune_read(store.get_finetune(session, finetune_id))


@router.post("/finetunes/{finetune_id}/cancel", response_model=FinetuneRead)
def cancel_finetune(finetune_id: str, session: SessionDep, key: WriteKey) -> FinetuneRead:
    """Cancel a queued or running fine-tune; a running one stops at its next step and keeps
    no adapter. Only the key that submitted it or an admin key may (403)."""
    finetune = store.get_finetune(session, finetune_id)
    require_owner(key, finetune.created_by_key_id, f"fine-tune {finetune_id}")
    return finetunes.finetune_read(finetunes.cancel(session, finetune_id, actor=key_actor(key)))


@router.post("/mitigations", status_code=202, response_model=MitigationRead, responses={
    200: {"model": MitigationRead, "description": "the Idempotency-Key named an earlier study"},
    409: {"description": "the Idempotency-Key was used with a different request"}})
def create_mitigation(
    body: MitigationCreate, response: Response, session: SessionDep, settings: SettingsDep,
    key: WriteKey, idempotency_key: Annotated[str | None, Header(max_length=150)] = None,
) -> MitigationRead:
    """Start the study: the base model's eval (safety and capability) and the fine-tune are
    queued now; the adapter's eval on the same items once the fine-tune succeeded; then the
    report. Refused (422) when a training request is among the evaluation items."""
    study, created = mitigations.submit_mitigation(session, body, settings,
                                                   idempotency_key=idempotency_key,
                                                   creator=key_actor(key))
    if not created:
        response.status_code = 200
    return mitigations.mitigation_read(session, study)


@router.get("/mitigations", response_model=MitigationList)
def list_mitigations(session: SessionDep, _key: CurrentKey,
                     limit: Annotated[int, Query(ge=1, le=500)] = 50) -> MitigationList:
    """Mitigation studies, newest first."""
    return MitigationList(items=[mitigations.mitigation_read(session, m)
                                 for m in mitigations.list_mitigations(session, limit)])


@router.get("/mitigations/{mitigation_id}", response_model=MitigationRead)
def read_mitigation(mitigation_id: str, session: SessionDep,
                    _key: CurrentKey) -> MitigationRead:
    """A study: its steps and, once both evals succeeded, the report (paired safety deltas
    overall and per principle, refusal, over-refusal and capability before and after)."""
    return mitigations.mitigation_read(session, mitigations.get_mitigation(session,
                                                                           mitigation_id))

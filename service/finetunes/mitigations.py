"""Mitigation studies: evaluate a model (safety and capability), fine-tune it on safety
demonstrations, evaluate the adapter on the same items, and report the paired change.

Every step is a normal eval or fine-tune, visible on its own. The study moves on in
advance(): when the fine-tune succeeded it submits the adapter's eval; when both evals
succeeded it writes the report; when a step failed or was cancelled the study fails saying
which. Workers call it when a fine-tune or an eval finishes, and at every maintenance round,
so a study never waits on a step that is already done.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from redis import Redis
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from service.audit import Actor, AuditAction, local_actor, record, stamp
from service.benchmarks.items import ItemKind, normalised_text_hash
from service.config import DEFAULT_GRADING, GradingMode, Settings
from service.db import upsert
from service.errors import Conflict, InvalidInput, NotFound
from service.evals.compare import compare_evals
from service.evals.lifecycle import EvalStatus, get_eval
from service.evals.service import (
    EvalRequest,
    request_with_defaults,
    resolve_datasets,
    submit_eval,
)
from service.finetunes.schemas import (
    FinetuneCreate,
    MitigationCreate,
    MitigationLinks,
    MitigationRead,
    MitigationReport,
    RateChange,
)
from service.finetunes.service import (
    check_base,
    demonstration_datasets,
    demonstrations,
    submit_finetune,
)
from service.finetunes.store import FinetuneStatus
from service.models import Eval, Finetune, Item, Mitigation, new_id, utcnow
from service.pipeline.engine import SamplingSettings
from service.pipeline.summaries import CapabilityStats, EvalSummary, PairedStats
from service.queue.jobs import Priority

MAX_OVERLAP_EXAMPLES = 3


class MitigationStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def check_overlap(session: Session, demo_ids: list[int], eval_ids: list[int]) -> None:
    """Refuse a study whose training requests are among the items it is evaluated on
    (normalised text): its before/after comparison would measure memorisation."""
    trained = {normalised_text_hash(demo.prompt): demo.prompt
               for demo in demonstrations(session, demo_ids)}
    overlap = [trained[h] for h in (normalised_text_hash(p) for p in session.scalars(
        select(Item.prompt).where(Item.dataset_id.in_(eval_ids)))) if h in trained]
    if overlap:
        examples = "; ".join(repr(prompt[:80]) for prompt in overlap[:MAX_OVERLAP_EXAMPLES])
        raise InvalidInput(f"{len(overlap)} evaluation items are also training requests of "
                           f"the demonstrations (e.g. {examples}): evaluate on items the "
                           "fine-tune does not see")


def submit_mitigation(session: Session, body: MitigationCreate, settings: Settings, *,
                      enqueue: bool = True, connection: Redis | None = None,
                      prefix: str | None = None, idempotency_key: str | None = None,
                      creator: Actor | None = None) -> tuple[Mitigation, bool]:
    """Write the study with its base eval and its fine-tune (queued after the commit with
    enqueue); (study, created). Everything is checked before anything is written. An
    Idempotency-Key belongs to the API key that sent it (creator): the same key with the same
    body answers with the first study, with another body it is a Conflict (409). The creator
    (default: the local user) owns the study and its steps."""
    actor = creator or local_actor()
    caller = actor.key_id
    key = (idempotency_key or "").strip() or None
    stored_key = f"key{caller}:{key}" if key and caller is not None else key
    fingerprint = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
    if stored_key:
        existing = session.scalars(select(Mitigation).where(
            Mitigation.idempotency_key == stored_key)).first()
        if existing is not None:
            return _same_study(existing, fingerprint, key), False
    check_base(body.model)
    demos = demonstration_datasets(session, body.demos)
    base_request = replace(_eval_request(body, settings, body.model, "base"), creator=actor)
    check_overlap(session, [d.id for d in demos], resolve_datasets(session, base_request))
    # The study's row first, inserted unless its key is taken: of two racing requests with
    # one key, the second finds the first's study instead of writing steps of its own.
    study_id = new_id()
    upsert(session, Mitigation, [{
        "id": study_id, "status": MitigationStatus.RUNNING.value, "model": body.model,
        "settings": {**body.model_dump(mode="json"), "enqueue": enqueue,
                     "request_sha256": fingerprint},
        "base_eval_id": None, "finetune_id": None, "adapter_eval_id": None, "report": None,
        "error": None, "idempotency_key": stored_key, "created_at": utcnow(),
        "finished_at": None}], keys=["idempotency_key"] if stored_key else ["id"])
    mitigation = session.get(Mitigation, study_id)
    if mitigation is None:  # another request with this key committed first
        winner = session.scalars(select(Mitigation).where(
            Mitigation.idempotency_key == stored_key)).one()
        return _same_study(winner, fingerprint, key), False
    finetune = submit_finetune(session, FinetuneCreate(
        base=body.model, datasets=body.demos, lora=body.lora,
        system_prompt=body.system_prompt), enqueue=enqueue, connection=connection,
        prefix=prefix, creator=actor)
    evaluation = submit_eval(session, base_request, enqueue=enqueue, connection=connection,
                             prefix=prefix).evaluation
    mitigation.base_eval_id, mitigation.finetune_id = evaluation.id, finetune.id
    stamp(mitigation, actor)
    record(session, actor, AuditAction.MITIGATION_SUBMIT, "mitigation", mitigation.id,
           model=body.model, base_eval=evaluation.id, finetune=finetune.id)
    session.flush()
    return mitigation, True


def _same_study(existing: Mitigation, fingerprint: str, key: str | None) -> Mitigation:
    if existing.settings.get("request_sha256") not in (None, fingerprint):
        raise Conflict(f"the Idempotency-Key {key!r} was used for mitigation study "
                       f"{existing.id} with a different request; use a new key")
    return existing


def _eval_request(body: MitigationCreate, settings: Settings, model: str,
                  step: str) -> EvalRequest:
    labels = {**body.labels, "mitigation_step": step}
    return request_with_defaults(
        settings, model=model, datasets=[*body.eval_datasets, *body.capability_datasets],
        judge=body.judge, max_tokens=body.max_tokens, system_prompt=body.system_prompt,
        grading=body.grading, labels=labels, limit=body.limit)


def adapter_request(base: Eval, model: str) -> EvalRequest:
    """The adapter's eval: the base eval's request as recorded (datasets, draw, judge,
    sampling, system prompt, grading, shards, labels, priority) with the adapter as model,
    so both answer the same items the same way whatever the settings of the caller."""
    recorded = base.settings
    return EvalRequest(
        model=model, datasets=list(recorded["datasets"]), judge=base.judge,
        sampling=SamplingSettings(**recorded["sampling"]),
        system_prompt=recorded.get("system_prompt"), limit=recorded.get("limit"),
        draw_seed=int(recorded.get("draw_seed") or 0),
        shard_size=int(recorded.get("shard_size") or 64),
        labels={**base.labels, "mitigation_step": "adapter"},
        grading=GradingMode(recorded.get("grading", DEFAULT_GRADING)),
        priority=Priority(base.priority),
        creator=Actor(base.created_by or "unknown", base.created_by_key_id))


def get_mitigation(session: Session, mitigation_id: str, *, lock: bool = False) -> Mitigation:
    mitigation = session.get(Mitigation, mitigation_id, with_for_update=lock)
    if mitigation is None:
        raise NotFound(f"no mitigation study {mitigation_id!r}")
    return mitigation


def list_mitigations(session: Session, limit: int = 100) -> list[Mitigation]:
    return list(session.scalars(select(Mitigation).order_by(
        Mitigation.created_at.desc(), Mitigation.id).limit(limit)))


def open_studies(session: Session, *, eval_id: str | None = None,
                 finetune_id: str | None = None) -> list[str]:
    """Ids of running studies (that wait on the given eval or fine-tune, where named)."""
    query = select(Mitigation.id).where(Mitigation.status == MitigationStatus.RUNNING)
    if eval_id is not None:
        query = query.where(or_(Mitigation.base_eval_id == eval_id,
                                Mitigation.adapter_eval_id == eval_id))
    if finetune_id is not None:
        query = query.where(Mitigation.finetune_id == finetune_id)
    return list(session.scalars(query))


def advance(session: Session, mitigation_id: str, settings: Settings, *,
            connection: Redis | None = None, prefix: str | None = None) -> Mitigation:
    """Move the study on as far as its steps allow (see the module docstring)."""
    mitigation = get_mitigation(session, mitigation_id, lock=True)
    if mitigation.status != MitigationStatus.RUNNING:
        return mitigation
    base = session.get(Eval, mitigation.base_eval_id) if mitigation.base_eval_id else None
    finetune = session.get(Finetune, mitigation.finetune_id) if mitigation.finetune_id else None
    adapter = (session.get(Eval, mitigation.adapter_eval_id)
               if mitigation.adapter_eval_id else None)
    problem = _failed_step(base, finetune, adapter)
    if problem is not None:
        _finish(mitigation, MitigationStatus.FAILED, error=problem)
        return mitigation
    assert base is not None and finetune is not None
    if finetune.status == FinetuneStatus.SUCCEEDED and adapter is None:
        try:
            adapter = submit_eval(session, adapter_request(base, finetune.model),
                                  enqueue=bool(mitigation.settings.get("enqueue", True)),
                                  connection=connection, prefix=prefix).evaluation
        except InvalidInput as exc:
            _finish(mitigation, MitigationStatus.FAILED,
                    error=f"the adapter's eval could not start: {exc.detail}")
            return mitigation
        mitigation.adapter_eval_id = adapter.id
    if base.status == EvalStatus.SUCCEEDED and adapter is not None \
            and adapter.status == EvalStatus.SUCCEEDED:
        mitigation.report = build_report(session, base, adapter, finetune).model_dump(
            mode="json")
        _finish(mitigation, MitigationStatus.SUCCEEDED)
    return mitigation


def _failed_step(base: Eval | None, finetune: Finetune | None,
                 adapter: Eval | None) -> str | None:
    for what, row in (("the base model's eval", base), ("the adapter's eval", adapter)):
        if row is not None and row.status in (EvalStatus.FAILED, EvalStatus.CANCELLED):
            return f"{what} {row.id} {row.status}" + (f": {row.error}" if row.error else "")
    if base is None:
        return "the base model's eval was deleted"
    if finetune is None:
        return "the fine-tune was deleted"
    if finetune.status in (FinetuneStatus.FAILED, FinetuneStatus.CANCELLED):
        return f"the fine-tune {finetune.id} {finetune.status}" + (
            f": {finetune.error}" if finetune.error else "")
    return None


def _finish(mitigation: Mitigation, status: MitigationStatus, error: str | None = None) -> None:
    mitigation.status = status
    mitigation.error = error
    mitigation.finished_at = datetime.now(UTC)


def build_report(session: Session, base: Eval, adapter: Eval,
                 finetune: Finetune) -> MitigationReport:
    """The paired comparison of the two evals, with capability and over-refusal."""
    comparison = compare_evals(session, base.id, adapter.id)
    before = EvalSummary.model_validate(base.summary) if base.summary else None
    after = EvalSummary.model_validate(adapter.summary) if adapter.summary else None
    compliance = _compliance_change(session, base, adapter)
    curve = finetune.loss_curve or []
    warnings = []
    if comparison.grading_differs:
        warnings.append(f"the evals were graded differently ({comparison.grading_differs}): "
                        "their scores are not on one scale")
    if comparison.training_overlap:
        warnings.append(f"{comparison.training_overlap} compared items were training "
                        "requests of the fine-tune")
    return MitigationReport(
        model=base.model, adapter=adapter.model, n_paired=comparison.overall.n_pairs,
        harmfulness=comparison.overall, harmfulness_by_principle=comparison.by_principle,
        harmful_rate=comparison.harmful_rate,
        refusal=_rate_change(comparison.refusal),
        compliance=compliance,
        over_refusal=_rate_change(comparison.over_refusal),
        capability_before=_capability(before), capability_after=_capability(after),
        capability_change=comparison.capability,
        grading_differs=comparison.grading_differs,
        training={"finetune_id": finetune.id, "steps": len(curve),
                  "loss_first": curve[0][1] if curve else None,
                  "loss_last": curve[-1][1] if curve else None,
                  "adapter_path": finetune.adapter_path},
        warnings=warnings)


def _capability(summary: EvalSummary | None) -> CapabilityStats | None:
    return summary.capability if summary is not None else None


def _rate_change(change: PairedStats | None) -> RateChange:
    if change is None:
        return RateChange(before=None, after=None, change=None)
    return RateChange(before=change.base_mean, after=change.candidate_mean, change=change)


def _compliance_change(session: Session, base: Eval, adapter: Eval) -> RateChange:
    from service.evals.grades import evaluation_seed, graded_items
    from service.pipeline import metrics

    change = metrics.paired_flag_change(
        graded_items(session, base), graded_items(session, adapter),
        {ItemKind.HARMFUL_MEDICAL, ItemKind.HARMFUL_GENERAL},
        lambda item: None if item.refusal is None else item.refusal == "full_compliance",
        seed=evaluation_seed(base))
    return _rate_change(change)


def step_of(session: Session, mitigation: Mitigation) -> str:
    """What the study waits on, in words."""
    if mitigation.status != MitigationStatus.RUNNING:
        return str(mitigation.status)
    finetune = session.get(Finetune, mitigation.finetune_id) if mitigation.finetune_id else None
    waiting = []
    if mitigation.base_eval_id and get_eval(session, mitigation.base_eval_id).status \
            != EvalStatus.SUCCEEDED:
        waiting.append("base eval")
    if finetune is not None and finetune.status != FinetuneStatus.SUCCEEDED:
        waiting.append("fine-tune")
    if mitigation.adapter_eval_id:
        waiting.append("adapter eval")
    return " and ".join(waiting) or "report"


def mitigation_read(session: Session, mitigation: Mitigation,
                    base_url: str = "/v1") -> MitigationRead:
    finetune = session.get(Finetune, mitigation.finetune_id) if mitigation.finetune_id else None
    settings: dict[str, Any] = {k: v for k, v in mitigation.settings.items() if k != "enqueue"}
    return MitigationRead(
        id=mitigation.id, status=mitigation.status, model=mitigation.model, settings=settings,
        base_eval_id=mitigation.base_eval_id, finetune_id=mitigation.finetune_id,
        adapter_eval_id=mitigation.adapter_eval_id,
        adapter=finetune.model if finetune is not None else None,
        step=step_of(session, mitigation),
        report=(MitigationReport.model_validate(mitigation.report)
                if mitigation.report else None),
        error=mitigation.error, created_at=mitigation.created_at,
        finished_at=mitigation.finished_at,
        links=MitigationLinks(
            self=f"{base_url}/mitigations/{mitigation.id}",
            base_eval=(f"{base_url}/evals/{mitigation.base_eval_id}"
                       if mitigation.base_eval_id else None),
            finetune=(f"{base_url}/finetunes/{mitigation.finetune_id}"
                      if mitigation.finetune_id else None),
            adapter_eval=(f"{base_url}/evals/{mitigation.adapter_eval_id}"
                          if mitigation.adapter_eval_id else None)))

"""SQLAlchemy 2 mapped classes: the database is the source of truth for every eval."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that always comes back timezone-aware in UTC. PostgreSQL keeps the offset;
    SQLite stores none and hands back naive times, which are UTC because MedSafe writes UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: MedSafe stores aware UTC times")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: UTCDateTime()}


class Owned:
    """Who created the row: the API key that sent the request (none for the CLI and other
    local processes) and a readable name (the key, or the CLI's local user)."""

    created_by: Mapped[str | None] = mapped_column(String(200))
    created_by_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL"))


class Dataset(Owned, Base):
    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    origin: Mapped[str | None] = mapped_column(Text)  # the path or "builtin"
    # benchmarks.items.DatasetPurpose: items to evaluate models on, or labelled responses that
    # measure judges (each item then has a Label).
    purpose: Mapped[str] = mapped_column(String(16), server_default="benchmark")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Item(Base):
    __tablename__ = "items"
    __table_args__ = (
        UniqueConstraint("dataset_id", "key", name="uq_items_dataset_key"),
        Index("ix_items_dataset_principle", "dataset_id", "principle"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(64))
    prompt: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(32))
    principle: Mapped[int | None] = mapped_column(Integer)
    category: Mapped[int | None] = mapped_column(Integer)
    reference: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(64))
    split: Mapped[str | None] = mapped_column(String(32))
    # Multiple-choice items (kind mcq): the option texts in order (A, B, ...) and the letter
    # of the right one.
    options: Mapped[list[Any] | None] = mapped_column()
    answer: Mapped[str | None] = mapped_column(String(8))


class Label(Base):
    """A labelled set's item: a response to the item's prompt and its human labels."""

    __tablename__ = "labels"

    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"),
                                         primary_key=True)
    response: Mapped[str] = mapped_column(Text)
    refused: Mapped[str | None] = mapped_column(String(20))  # judging.refusal.RefusalClass
    harmfulness: Mapped[int | None] = mapped_column(Integer)
    model: Mapped[str | None] = mapped_column(String(200))
    rationale: Mapped[str | None] = mapped_column(Text)


class Eval(Owned, Base):
    __tablename__ = "evals"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    status: Mapped[str] = mapped_column(String(16), index=True)  # lifecycle.EvalStatus
    model: Mapped[str] = mapped_column(String(300), index=True)
    judge: Mapped[str] = mapped_column(String(300))
    dataset_ids: Mapped[list[Any]] = mapped_column(default=list)
    # Every generation setting DATA.md requires, as recorded when the engines ran.
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # engine.describe() of the target and of the judge, written by the stage that ran them.
    target_engine: Mapped[dict[str, Any] | None] = mapped_column()
    judge_engine: Mapped[dict[str, Any] | None] = mapped_column()
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    priority: Mapped[str] = mapped_column(String(16), server_default="default")  # queue.Priority
    # A benchmark eval of a model, or a calibration of a judge on a labelled set (its
    # responses are the set's, its summary a calibration report).
    purpose: Mapped[str] = mapped_column(String(16), server_default="benchmark", index=True)
    # Set when a schedule fired it; its verdict against the schedule's previous eval.
    schedule_id: Mapped[str | None] = mapped_column(
        ForeignKey("schedules.id", ondelete="SET NULL"), index=True)
    fire_time: Mapped[datetime | None] = mapped_column()
    regression: Mapped[dict[str, Any] | None] = mapped_column()
    regressed: Mapped[bool | None] = mapped_column(Boolean, index=True)
    n_items: Mapped[int] = mapped_column(default=0)
    summary: Mapped[dict[str, Any] | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()


class Shard(Base):
    """A slice of an eval's items, processed by one job per stage."""

    __tablename__ = "shards"
    __table_args__ = (UniqueConstraint("eval_id", "stage", "index", name="uq_shards_stage_index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    eval_id: Mapped[str] = mapped_column(ForeignKey("evals.id", ondelete="CASCADE"), index=True)
    stage: Mapped[str] = mapped_column(String(16))  # lifecycle.Stage
    index: Mapped[int] = mapped_column(Integer)
    item_ids: Mapped[list[Any]] = mapped_column()
    status: Mapped[str] = mapped_column(String(16))  # lifecycle.ShardStatus
    attempts: Mapped[int] = mapped_column(default=0)
    worker: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()


class Response(Base):
    __tablename__ = "responses"
    __table_args__ = (UniqueConstraint("eval_id", "item_id", name="uq_responses_eval_item"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    eval_id: Mapped[str] = mapped_column(ForeignKey("evals.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    prompt_tokens: Mapped[int] = mapped_column(default=0)
    output_tokens: Mapped[int] = mapped_column(default=0)
    finish_reason: Mapped[str | None] = mapped_column(String(32))
    # The target's request for this item failed for good (finish_reason "error"): why.
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Judgment(Base):
    __tablename__ = "judgments"
    __table_args__ = (
        UniqueConstraint("eval_id", "item_id", "judge", name="uq_judgments_eval_item_judge"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    eval_id: Mapped[str] = mapped_column(ForeignKey("evals.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    judge: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16))  # records.GradeStatus
    score: Mapped[int | None] = mapped_column(Integer)
    # Probability grading: the judge's distribution over "1".."5" and its expected score.
    expected: Mapped[float | None] = mapped_column(Float)
    probabilities: Mapped[list[Any] | None] = mapped_column()
    # How much of the next-token probability the five scores held before renormalising.
    score_mass: Mapped[float | None] = mapped_column(Float)
    refused: Mapped[bool | None] = mapped_column(Boolean)
    refusal: Mapped[str | None] = mapped_column(String(20))  # judging.refusal.RefusalClass
    # A multiple-choice answer: whether the option the model chose is the right one.
    correct: Mapped[bool | None] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(Text)
    raw: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Schedule(Owned, Base):
    """An eval template fired by a cron expression in a time zone (service.schedules)."""

    __tablename__ = "schedules"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    cron: Mapped[str] = mapped_column(String(120))
    timezone: Mapped[str] = mapped_column(String(64))
    template: Mapped[dict[str, Any]] = mapped_column()  # a POST /v1/evals body
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # A regression is a paired rise above these (and with its 95% CI above zero).
    mean_threshold: Mapped[float] = mapped_column(Float)
    harmful_rate_threshold: Mapped[float] = mapped_column(Float)
    webhook_url: Mapped[str | None] = mapped_column(Text)
    webhook_secret: Mapped[str | None] = mapped_column(String(200))
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Fire times before this never fire: set at creation, when enabled again and when the
    # cron or time zone changes, so none of those fires at once for a time already past.
    active_since: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ScheduleFire(Base):
    """One firing of a schedule: unique per (schedule, fire time), so two schedulers, a
    restart or a retry never start a second eval for the same time."""

    __tablename__ = "schedule_fires"
    __table_args__ = (
        UniqueConstraint("schedule_id", "fire_time", name="uq_schedule_fires_time"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    schedule_id: Mapped[str] = mapped_column(ForeignKey("schedules.id", ondelete="CASCADE"))
    fire_time: Mapped[datetime] = mapped_column()
    manual: Mapped[bool] = mapped_column(Boolean, default=False)
    eval_id: Mapped[str | None] = mapped_column(ForeignKey("evals.id", ondelete="SET NULL"))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Notification(Base):
    """A webhook call about a scheduled eval (a regression, a failure) and every attempt."""

    __tablename__ = "notifications"
    __table_args__ = (UniqueConstraint("eval_id", "event", name="uq_notifications_eval_event"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[str] = mapped_column(ForeignKey("schedules.id", ondelete="CASCADE"))
    eval_id: Mapped[str] = mapped_column(ForeignKey("evals.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(16))  # "regression" | "failed"
    status: Mapped[str] = mapped_column(String(16))  # "pending" | "delivered" | "failed"
    payload: Mapped[dict[str, Any]] = mapped_column()
    attempts: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column()


class Finetune(Owned, Base):
    """A LoRA fine-tune of a base model on demonstration datasets (service.finetunes); its
    adapter is served as the model spec `model` (<base>+lora:<id>)."""

    __tablename__ = "finetunes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    status: Mapped[str] = mapped_column(String(16), index=True)  # finetunes.FinetuneStatus
    base: Mapped[str] = mapped_column(String(300))
    model: Mapped[str] = mapped_column(String(300))
    dataset_ids: Mapped[list[Any]] = mapped_column(default=list)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)  # LoRA and training
    # Normalised-text hashes of the training requests: overlap with an eval's items is flagged.
    prompt_hashes: Mapped[list[Any]] = mapped_column(default=list)
    progress: Mapped[dict[str, Any] | None] = mapped_column()  # step, loss, tokens/s
    loss_curve: Mapped[list[Any]] = mapped_column(default=list)  # [[step, loss], ...]
    adapter_path: Mapped[str | None] = mapped_column(Text)
    artifact: Mapped[dict[str, Any] | None] = mapped_column()  # versions, hashes, timings
    worker: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()


class Mitigation(Owned, Base):
    """The whole study in one request: evaluate a model, fine-tune it on safety
    demonstrations, evaluate the adapter on the same items, and compare."""

    __tablename__ = "mitigations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    status: Mapped[str] = mapped_column(String(16), index=True)  # finetunes.MitigationStatus
    model: Mapped[str] = mapped_column(String(300))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    base_eval_id: Mapped[str | None] = mapped_column(
        ForeignKey("evals.id", ondelete="SET NULL"))
    finetune_id: Mapped[str | None] = mapped_column(
        ForeignKey("finetunes.id", ondelete="SET NULL"))
    adapter_eval_id: Mapped[str | None] = mapped_column(
        ForeignKey("evals.id", ondelete="SET NULL"))
    report: Mapped[dict[str, Any] | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()


class ApiKey(Base):
    """An API key: only a hash of its secret is stored; the prefix finds the row."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    hashed_secret: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[Any]] = mapped_column(default=list)
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column()


class AuditEvent(Base):
    """Who created, cancelled, revoked or uploaded what, and when (service.audit)."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_target", "target_type", "target_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    key_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL"), index=True)
    action: Mapped[str] = mapped_column(String(40))  # audit.AuditAction
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)

"""Schedules in the database: created, read, changed and deleted, every template checked the
way POST /v1/evals checks a body."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.audit import Actor, AuditAction, local_actor, record, stamp
from service.config import Settings
from service.errors import Conflict, NotFound
from service.evals import service as evals
from service.evals.schemas import EvalCreate
from service.models import Eval, Schedule, ScheduleFire, utcnow
from service.schedules.cron import checked_cron, checked_zone, next_fire_time
from service.schedules.schemas import (
    ScheduleCreate,
    ScheduleRead,
    ScheduleRunRead,
    ScheduleUpdate,
)


def check_template(session: Session, template: EvalCreate, settings: Settings) -> None:
    """InvalidInput (422) for a template POST /v1/evals would refuse; writes nothing."""
    request = evals.request_from_body(template, settings)
    evals.validate_request(request)
    evals.resolve_datasets(session, request)


def create_schedule(session: Session, body: ScheduleCreate, settings: Settings,
                    creator: Actor | None = None) -> Schedule:
    """A new schedule; `creator` (default: the local user) owns it and the evals it fires."""
    cron = checked_cron(body.cron)
    checked_zone(body.timezone)
    check_template(session, body.template, settings)
    if find_schedule(session, body.name) is not None:
        raise Conflict(f"a schedule named {body.name!r} exists; choose another name")
    schedule = Schedule(
        name=body.name, cron=cron, timezone=body.timezone,
        template=body.template.model_dump(mode="json", exclude_none=True),
        enabled=body.enabled, mean_threshold=body.mean_threshold,
        harmful_rate_threshold=body.harmful_rate_threshold,
        webhook_url=str(body.webhook_url) if body.webhook_url else None,
        webhook_secret=body.webhook_secret, labels=dict(body.labels),
        active_since=utcnow(), created_at=utcnow(), updated_at=utcnow())
    actor = creator or local_actor()
    stamp(schedule, actor)
    session.add(schedule)
    session.flush()
    record(session, actor, AuditAction.SCHEDULE_CREATE, "schedule", schedule.id,
           name=schedule.name, cron=cron, timezone=body.timezone)
    return schedule


def update_schedule(session: Session, name_or_id: str, body: ScheduleUpdate,
                    settings: Settings, actor: Actor | None = None) -> Schedule:
    schedule = get_schedule(session, name_or_id)
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    if "cron" in changes and changes["cron"] is not None:
        changes["cron"] = checked_cron(changes["cron"])
    if changes.get("timezone") is not None:
        checked_zone(changes["timezone"])
    if body.template is not None:
        check_template(session, body.template, settings)
        changes["template"] = body.template.model_dump(mode="json", exclude_none=True)
    if "webhook_url" in changes:
        changes["webhook_url"] = str(body.webhook_url) if body.webhook_url else None
    restarts = ((changes.get("enabled") is True and not schedule.enabled)
                or any(changes.get(f) not in (None, getattr(schedule, f))
                       for f in ("cron", "timezone")))
    for field, value in changes.items():
        if value is not None or field in ("webhook_url", "webhook_secret"):
            setattr(schedule, field, value)
    schedule.updated_at = utcnow()
    if restarts:  # no time already past fires because of this change
        schedule.active_since = schedule.updated_at
    record(session, actor or local_actor(), AuditAction.SCHEDULE_UPDATE, "schedule",
           schedule.id, fields=sorted(changes))
    return schedule


def delete_schedule(session: Session, name_or_id: str, actor: Actor | None = None) -> None:
    """Delete the schedule and its fire times; its evals stay (their schedule is cleared)."""
    schedule = get_schedule(session, name_or_id)
    record(session, actor or local_actor(), AuditAction.SCHEDULE_DELETE, "schedule",
           schedule.id, name=schedule.name)
    session.delete(schedule)


def find_schedule(session: Session, name_or_id: str) -> Schedule | None:
    by_id = session.get(Schedule, name_or_id)
    if by_id is not None:
        return by_id
    return session.scalars(select(Schedule).where(Schedule.name == name_or_id)).first()


def get_schedule(session: Session, name_or_id: str) -> Schedule:
    schedule = find_schedule(session, name_or_id)
    if schedule is None:
        raise NotFound(f"no schedule {name_or_id!r}")
    return schedule


def list_schedules(session: Session) -> list[Schedule]:
    return list(session.scalars(select(Schedule).order_by(Schedule.name)))


def schedule_read(schedule: Schedule, now: datetime | None = None) -> ScheduleRead:
    upcoming = (next_fire_time(schedule.cron, schedule.timezone, now or utcnow())
                if schedule.enabled else None)
    return ScheduleRead(
        id=schedule.id, name=schedule.name, cron=schedule.cron, timezone=schedule.timezone,
        template=schedule.template, enabled=schedule.enabled,
        mean_threshold=schedule.mean_threshold,
        harmful_rate_threshold=schedule.harmful_rate_threshold,
        webhook_url=masked_url(schedule.webhook_url),
        has_webhook_secret=bool(schedule.webhook_secret),
        labels=schedule.labels, next_fire_time=upcoming, created_at=schedule.created_at,
        updated_at=schedule.updated_at)


def masked_url(url: str | None) -> str | None:
    """Scheme and host only: many webhook URLs carry their secret in the path."""
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}/…"


def schedule_runs(session: Session, name_or_id: str, limit: int = 100) -> list[ScheduleRunRead]:
    """The schedule's firings, newest first, with their evals' status and verdict."""
    schedule = get_schedule(session, name_or_id)
    rows = session.execute(
        select(ScheduleFire, Eval).outerjoin(Eval, Eval.id == ScheduleFire.eval_id)
        .where(ScheduleFire.schedule_id == schedule.id)
        .order_by(ScheduleFire.fire_time.desc()).limit(max(1, min(limit, 1000)))).all()
    return [ScheduleRunRead(
        fire_time=fire.fire_time, manual=fire.manual, eval_id=fire.eval_id,
        status=evaluation.status if evaluation else None,
        regressed=evaluation.regressed if evaluation else None,
        regression=evaluation.regression if evaluation else None, error=fire.error)
        for fire, evaluation in rows]

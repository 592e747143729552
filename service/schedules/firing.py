"""Firing schedules: each (schedule, fire time) is claimed by one insert that a unique
constraint guards, in the same transaction as the eval it starts, so two schedulers, a crash
or a restart never start a second eval for the same time."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from datetime import datetime

from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.audit import Actor
from service.config import Settings
from service.db import session_scope, upsert
from service.errors import MedSafeError
from service.evals import service as evals
from service.evals.schemas import EvalCreate
from service.models import Eval, Schedule, ScheduleFire, new_id, utcnow
from service.schedules.cron import latest_fire_time

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


def fire(session: Session, schedule: Schedule, fire_time: datetime, settings: Settings, *,
         manual: bool = False, connection: Redis | None = None,
         prefix: str | None = None) -> Eval | None:
    """Claim the fire time and submit the schedule's eval through the same function as POST
    /v1/evals, in the caller's transaction; None when another scheduler claimed it first or
    the template no longer submits (the error is kept on the fire)."""
    claim = new_id()
    upsert(session, ScheduleFire, [{
        "id": claim, "schedule_id": schedule.id, "fire_time": fire_time, "manual": manual,
        "eval_id": None, "error": None, "created_at": utcnow()}],
        keys=["schedule_id", "fire_time"])
    fired = session.get(ScheduleFire, claim)
    if fired is None:
        return None  # claimed by another scheduler (or an earlier run of this one)
    body = EvalCreate.model_validate(schedule.template)
    request = dataclasses.replace(
        evals.request_from_body(body, settings, idempotency_key=(
            f"{evals.SCHEDULE_KEY_PREFIX}{schedule.id}:{fire_time.isoformat()}")),
        labels={**body.labels, **schedule.labels, "schedule": schedule.name},
        # The schedule's evals belong to its creator's key: it may cancel them.
        creator=Actor(f"schedule {schedule.name}"[:200], schedule.created_by_key_id))
    try:
        # Everything submit_eval refuses, it refuses before it writes anything.
        evaluation = evals.submit_eval(session, request, connection=connection,
                                       prefix=prefix, scheduled=True).evaluation
    except MedSafeError as exc:
        fired.error = str(exc)
        log.warning("schedule %s at %s did not start: %s", schedule.name, fire_time, exc)
        return None
    evaluation.schedule_id, evaluation.fire_time = schedule.id, fire_time
    fired.eval_id = evaluation.id
    return evaluation


def fire_if_due(session: Session, schedule_id: str, now: datetime, settings: Settings,
                connection: Redis | None = None, prefix: str | None = None) -> Eval | None:
    """Fire the schedule for its latest fire time at or before now, unless that time came
    before the schedule was active (created, enabled again, or given another cron or zone)
    or has fired already (missed times are not made up one by one: only the latest fires)."""
    schedule = session.get(Schedule, schedule_id)
    if schedule is None or not schedule.enabled:
        return None
    due = latest_fire_time(schedule.cron, schedule.timezone, now)
    if due < schedule.active_since:
        return None
    already = session.scalar(select(ScheduleFire.id).where(
        ScheduleFire.schedule_id == schedule.id, ScheduleFire.fire_time == due))
    if already is not None:
        return None
    return fire(session, schedule, due, settings, connection=connection, prefix=prefix)


def fire_due(settings: Settings, db_url: str | None = None, now: datetime | None = None,
             connection: Redis | None = None, prefix: str | None = None) -> list[str]:
    """One pass over every enabled schedule, each in its own transaction; the evals started."""
    moment = now or utcnow()
    with session_scope(db_url) as session:
        ids = list(session.scalars(select(Schedule.id).where(Schedule.enabled.is_(True))))
    started = []
    for schedule_id in ids:
        try:
            with session_scope(db_url) as session:
                evaluation = fire_if_due(session, schedule_id, moment, settings, connection,
                                         prefix)
                if evaluation is not None:
                    started.append(evaluation.id)
        except Exception:  # one schedule's trouble must not stop the others
            log.exception("schedule %s could not fire", schedule_id)
    return started


def run_scheduler(settings: Settings, stop: threading.Event, db_url: str | None = None,
                  connection: Redis | None = None, prefix: str | None = None,
                  clock: Clock = utcnow) -> None:
    """Fire due schedules every settings.scheduler_interval_s seconds until stop is set."""
    log.info("scheduler started (every %.0f s)", settings.scheduler_interval_s)
    while not stop.is_set():
        for eval_id in fire_due(settings, db_url, clock(), connection, prefix):
            log.info("scheduled eval %s started", eval_id)
        stop.wait(settings.scheduler_interval_s)

"""/v1/schedules: evals on a cron schedule, fired by `medsafe scheduler`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from service.api.deps import CurrentKey, SessionDep, SettingsDep, WriteKey
from service.audit import AuditAction, key_actor, record
from service.auth import require_owner
from service.errors import InvalidInput
from service.models import ApiKey, Schedule, utcnow
from service.schedules import store
from service.schedules.firing import fire
from service.schedules.schemas import (
    ScheduleCreate,
    ScheduleList,
    ScheduleRead,
    ScheduleRunList,
    ScheduleRunRead,
    ScheduleUpdate,
)

router = APIRouter(prefix="/schedules", tags=["schedules"])


@router.post("", status_code=201, response_model=ScheduleRead,
             responses={409: {"description": "the name is taken"}})
def create_schedule(body: ScheduleCreate, session: SessionDep, settings: SettingsDep,
                    key: WriteKey) -> ScheduleRead:
    """A schedule: an eval template (a POST /v1/evals body, checked the same way) fired by
    a cron expression read in an IANA time zone. 422 says what is wrong with either."""
    return store.schedule_read(
        store.create_schedule(session, body, settings, creator=key_actor(key)))


@router.get("", response_model=ScheduleList)
def list_schedules(session: SessionDep, _key: CurrentKey) -> ScheduleList:
    return ScheduleList(schedules=[store.schedule_read(s) for s in store.list_schedules(session)])


@router.get("/{schedule_id}", response_model=ScheduleRead)
def read_schedule(schedule_id: str, session: SessionDep, _key: CurrentKey) -> ScheduleRead:
    """By id or by name; next_fire_time is when it fires next (UTC)."""
    return store.schedule_read(store.get_schedule(session, schedule_id))


@router.patch("/{schedule_id}", response_model=ScheduleRead)
def update_schedule(schedule_id: str, body: ScheduleUpdate, session: SessionDep,
                    settings: SettingsDep, key: WriteKey) -> ScheduleRead:
    """Change the fields given (enabled: false pauses it). Only the key that created the
    schedule or an admin key may (403)."""
    _require_owner(key, store.get_schedule(session, schedule_id))
    return store.schedule_read(
        store.update_schedule(session, schedule_id, body, settings, actor=key_actor(key)))


@router.delete("/{schedule_id}", status_code=204)
def delete_schedule(schedule_id: str, session: SessionDep, key: WriteKey) -> Response:
    """Delete the schedule; the evals it started stay. Only the key that created the schedule
    or an admin key may (403)."""
    _require_owner(key, store.get_schedule(session, schedule_id))
    store.delete_schedule(session, schedule_id, actor=key_actor(key))
    return Response(status_code=204)


@router.post("/{schedule_id}/run", status_code=202, response_model=ScheduleRunRead,
             responses={422: {"description": "the template no longer submits (the run and "
                                             "its error are recorded)"}})
def run_schedule(schedule_id: str, session: SessionDep, settings: SettingsDep,
                 key: WriteKey) -> ScheduleRunRead:
    """Fire now: an eval from the template, recorded as a manual run of the schedule. Only
    the key that created the schedule or an admin key may (403)."""
    schedule = store.get_schedule(session, schedule_id)
    _require_owner(key, schedule)
    fire(session, schedule, utcnow(), settings, manual=True)
    record(session, key_actor(key), AuditAction.SCHEDULE_RUN, "schedule", schedule.id)
    run = store.schedule_runs(session, schedule.id, limit=1)[0]
    if run.eval_id is None:
        session.commit()  # the failed run stays on record, as the scheduler's do
        raise InvalidInput(f"schedule {schedule.name}: the template did not submit: "
                           f"{run.error}")
    return run


def _require_owner(key: ApiKey, schedule: Schedule) -> None:
    require_owner(key, schedule.created_by_key_id, f"schedule {schedule.name!r}")


@router.get("/{schedule_id}/runs", response_model=ScheduleRunList)
def schedule_runs(schedule_id: str, session: SessionDep, _key: CurrentKey,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> ScheduleRunList:
    """Its firings, newest first: the eval each started, its status and regression verdict."""
    return ScheduleRunList(runs=store.schedule_runs(session, schedule_id, limit))

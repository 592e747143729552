"""Firing: exactly one eval per schedule and fire time, whatever races, restarts or clocks."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from service.config import get_settings
from service.db import session_scope
from service.models import Eval, ScheduleFire
from service.schedules.firing import fire_due
from tests.service.api.conftest import add_dataset
from tests.service.schedules.helpers import make_schedule

NOW = datetime(2026, 11, 30, 2, 0, 30, tzinfo=UTC)


def _count(db_url: str, model: type[Eval] | type[ScheduleFire]) -> int:
    with session_scope(db_url) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_racing_schedulers_and_restarts_fire_once_per_time(api_settings: str) -> None:
    add_dataset(api_settings)
    make_schedule(api_settings, created_at=NOW - timedelta(hours=1))
    settings = get_settings()
    with ThreadPoolExecutor(max_workers=4) as pool:  # four schedulers at the same moment
        started = list(pool.map(lambda _: fire_due(settings, api_settings, NOW), range(4)))
    assert sum(len(ids) for ids in started) == 1
    assert fire_due(settings, api_settings, NOW + timedelta(seconds=20)) == []  # a restart
    assert (_count(api_settings, Eval), _count(api_settings, ScheduleFire)) == (1, 1)
    with session_scope(api_settings) as session:
        evaluation = session.scalars(select(Eval)).one()
        assert evaluation.fire_time == datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
        assert evaluation.labels["schedule"] == "nightly"
        assert evaluation.schedule_id is not None


def test_missed_times_fire_once_for_the_latest(api_settings: str) -> None:
    add_dataset(api_settings)
    make_schedule(api_settings, created_at=NOW - timedelta(days=2), cron="0 * * * *")
    # No scheduler ran for two days: one eval, for the latest hour.
    assert len(fire_due(get_settings(), api_settings, NOW)) == 1
    with session_scope(api_settings) as session:
        assert session.scalars(select(ScheduleFire.fire_time)).all() == [
            datetime(2026, 11, 30, 2, 0, tzinfo=UTC)]


def test_times_before_the_schedule_existed_and_disabled_schedules_do_not_fire(
        api_settings: str) -> None:
    add_dataset(api_settings)
    make_schedule(api_settings, created_at=NOW, cron="0 2 * * *")  # created 30 s after 02:00
    make_schedule(api_settings, name="paused", enabled=False,
                  created_at=NOW - timedelta(days=1))
    assert fire_due(get_settings(), api_settings, NOW) == []
    assert _count(api_settings, ScheduleFire) == 0


def test_a_template_that_no_longer_submits_is_recorded_not_retried(api_settings: str) -> None:
    add_dataset(api_settings)
    schedule_id = make_schedule(api_settings, created_at=NOW - timedelta(hours=1))
    with session_scope(api_settings) as session:
        from service.models import Dataset

        session.delete(session.scalars(select(Dataset).where(Dataset.name == "msb")).one())
    assert fire_due(get_settings(), api_settings, NOW) == []
    assert fire_due(get_settings(), api_settings, NOW) == []
    with session_scope(api_settings) as session:
        fired = session.scalars(select(ScheduleFire)).one()
    assert fired.schedule_id == schedule_id and fired.eval_id is None
    assert fired.error is not None and "no dataset 'msb'" in fired.error
    assert _count(api_settings, Eval) == 0


def test_a_dst_night_fires_the_documented_number_of_times(api_settings: str) -> None:
    add_dataset(api_settings)
    start = datetime(2026, 10, 24, 20, 0, tzinfo=UTC)
    make_schedule(api_settings, created_at=start, cron="30 2 * * *", timezone="Europe/Berlin")
    moment = start
    while moment < start + timedelta(hours=12):  # the fall-back night, polled every 5 min
        fire_due(get_settings(), api_settings, moment)
        moment += timedelta(minutes=5)
    with session_scope(api_settings) as session:
        fired = session.scalars(select(ScheduleFire.fire_time)).all()
    assert fired == [datetime(2026, 10, 25, 0, 30, tzinfo=UTC)]  # 02:30 CEST, once


def test_enabling_again_or_a_new_cron_does_not_fire_a_time_already_past(
        api_settings: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from service.schedules import store
    from service.schedules.schemas import ScheduleUpdate

    add_dataset(api_settings)
    schedule_id = make_schedule(api_settings, created_at=NOW - timedelta(days=1),
                                cron="0 1 * * *", enabled=False)
    later = NOW + timedelta(hours=8)  # 10:00: the 01:00 and 02:00 of today are past
    monkeypatch.setattr("service.schedules.store.utcnow", lambda: later)
    with session_scope(api_settings) as session:
        store.update_schedule(session, schedule_id, ScheduleUpdate(enabled=True),
                              get_settings())
    assert fire_due(get_settings(), api_settings, later + timedelta(minutes=1)) == []
    with session_scope(api_settings) as session:
        store.update_schedule(session, schedule_id, ScheduleUpdate(cron="0 9 * * *"),
                              get_settings())
    assert fire_due(get_settings(), api_settings, later + timedelta(minutes=2)) == []
    # The next 09:00 does fire.
    assert len(fire_due(get_settings(), api_settings, later + timedelta(hours=23))) == 1

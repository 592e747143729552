"""Cron expressions in IANA zones: validation, and what fires across DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from service.errors import InvalidInput
from service.schedules.cron import checked_cron, checked_zone, latest_fire_time, next_fire_time


@pytest.mark.parametrize(("expression", "message"), [
    ("0 2 * *", "must have 5 fields"),
    ("61 2 * * *", "not a valid cron expression"),
    ("0 2 * * * *", "must have 5 fields"),
    ("every night", "must have 5 fields"),
])
def test_bad_cron_says_what_is_wrong(expression: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        checked_cron(expression)


def test_bad_zone_says_what_is_wrong() -> None:
    with pytest.raises(InvalidInput, match="not an IANA time zone"):
        checked_zone("Mars/Olympus_Mons")
    with pytest.raises(InvalidInput, match="not an IANA time zone"):
        checked_zone("../etc/passwd")


def _fires(expression: str, zone: str, start: datetime, hours: int) -> list[datetime]:
    """Every distinct fire time a scheduler polling each minute would see."""
    seen: list[datetime] = []
    moment = start
    while moment < start + timedelta(hours=hours):
        due = latest_fire_time(expression, zone, moment)
        if due >= start and due not in seen:
            seen.append(due)
        moment += timedelta(minutes=1)
    return seen


def test_a_time_the_spring_change_skips_fires_once_after_the_gap() -> None:
    # Europe/Berlin, 2026-03-29: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist.
    fires = _fires("30 2 * * *", "Europe/Berlin", datetime(2026, 3, 28, 12, tzinfo=UTC), 48)
    assert fires == [datetime(2026, 3, 29, 1, 0, tzinfo=UTC),  # 03:00 CEST
                     datetime(2026, 3, 30, 0, 30, tzinfo=UTC)]  # 02:30 CEST


def test_a_time_the_autumn_change_repeats_fires_once() -> None:
    # Europe/Berlin, 2026-10-25: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice.
    fires = _fires("30 2 * * *", "Europe/Berlin", datetime(2026, 10, 24, 12, tzinfo=UTC), 48)
    assert fires == [datetime(2026, 10, 25, 0, 30, tzinfo=UTC),  # the first 02:30 (CEST)
                     datetime(2026, 10, 26, 1, 30, tzinfo=UTC)]  # 02:30 CET the next day


def test_an_hourly_schedule_across_the_autumn_change_fires_for_each_wall_clock_hour() -> None:
    # America/New_York, 2026-11-01: 02:00 EDT falls back to 01:00 EST.
    fires = _fires("0 * * * *", "America/New_York", datetime(2026, 11, 1, 3, tzinfo=UTC), 5)
    local = [f.astimezone(checked_zone("America/New_York")).strftime("%H:%M") for f in fires]
    # Five hours from 23:00 EDT hold six hourly instants; 01:00 EST repeats 01:00 EDT's wall
    # clock and does not fire, so four fire.
    assert local == ["23:00", "00:00", "01:00", "02:00"]


def test_next_fire_time_skips_the_repeat_and_is_in_utc() -> None:
    upcoming = next_fire_time("30 2 * * *", "Europe/Berlin",
                              datetime(2026, 10, 25, 0, 40, tzinfo=UTC))
    assert upcoming == datetime(2026, 10, 26, 1, 30, tzinfo=UTC)
    assert upcoming.tzinfo == UTC

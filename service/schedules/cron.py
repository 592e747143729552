"""When a schedule fires: its cron expression read by croniter in its IANA time zone.

Fire times are wall-clock times in the schedule's zone, stored in UTC. Across a DST change:
a time the clocks skip (02:30 on the spring-forward night in Europe/Berlin) fires once, at the
first minute after the gap (03:00); a time that happens twice (02:30 on the fall-back night)
fires once, at its first occurrence. While no scheduler runs, missed fire times are not made
up one by one: the next scheduler fires once, for the latest missed time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

from service.errors import InvalidInput

_JUST_AFTER = timedelta(microseconds=1)


def checked_cron(expression: str) -> str:
    """A 5-field cron expression as given, or InvalidInput saying what is wrong."""
    text = " ".join(expression.split())
    if len(text.split()) != 5:
        raise InvalidInput(f"cron {expression!r} must have 5 fields (minute hour day month "
                           "weekday), e.g. '0 2 * * *' for 02:00 every day")
    if not croniter.is_valid(text):
        raise InvalidInput(f"cron {expression!r} is not a valid cron expression")
    try:  # valid fields can still name no date at all ("0 0 30 2 *": 30 February)
        croniter(text).get_next(datetime)
    except CroniterError:
        raise InvalidInput(f"cron {expression!r} never fires (no such date)") from None
    return text


def checked_zone(name: str) -> ZoneInfo:
    """The IANA time zone of that name, or InvalidInput."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"timezone {name!r} is not an IANA time zone such as "
                           "'Europe/Berlin' or 'UTC'") from None


def latest_fire_time(expression: str, zone: str, now: datetime) -> datetime:
    """The schedule's latest fire time at or before `now` (aware), in UTC."""
    local_now = now.astimezone(checked_zone(zone)) + _JUST_AFTER
    fire: datetime = croniter(expression, local_now).get_prev(datetime)
    earlier: datetime = croniter(expression, fire).get_prev(datetime)
    if earlier.replace(tzinfo=None) == fire.replace(tzinfo=None):
        fire = earlier  # the second pass of a wall-clock time the fall-back repeats
    return fire.astimezone(UTC)


def next_fire_time(expression: str, zone: str, after: datetime) -> datetime:
    """The first fire time after `after` that is not a repeat of a wall-clock time, in UTC.
    (Compared in UTC: two aware times in one zone compare by their wall clocks alone.)"""
    upcoming: datetime = croniter(expression, after.astimezone(checked_zone(zone))).get_next(
        datetime)
    fire = upcoming.astimezone(UTC)
    if latest_fire_time(expression, zone, fire) != fire:
        return next_fire_time(expression, zone, fire)
    return fire

"""Query parameter types shared by the routers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator


def _in_utc(moment: datetime) -> datetime:
    """The time in UTC (a time without an offset is UTC already). A time at the edge of the
    calendar can fall outside it once converted (0001-01-01T00:00+14:00): a 422, not a 500."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time falls outside the calendar once converted to UTC") from None


UtcTime = Annotated[datetime, AfterValidator(_in_utc)]

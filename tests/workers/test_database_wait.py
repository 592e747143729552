"""while_database_down: a call is repeated, with growing jittered pauses, while the database
cannot be reached, and only then; past its outage budget the error goes to the job."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.exc import DisconnectionError

from workers import shards
from workers.shards import while_database_down


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    pauses: list[float] = []
    monkeypatch.setattr(shards.time, "sleep", pauses.append)
    return pauses


def _failing(times: int, error: Exception) -> tuple[list[int], Callable[[], str]]:
    calls: list[int] = []

    def call() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise error
        return "done"

    return calls, call


def test_it_waits_out_an_outage_with_growing_jittered_pauses(quick: list[float]) -> None:
    calls, call = _failing(5, DisconnectionError("the server closed the connection"))
    assert while_database_down(call, "test") == "done"
    assert len(calls) == 6 and len(quick) == 5
    limits = [min(shards.DB_FIRST_DELAY_S * 2 ** n, shards.DB_MAX_DELAY_S) for n in range(5)]
    assert all(limit / 2 <= pause <= limit for pause, limit in zip(quick, limits, strict=True))


def test_other_errors_are_not_repeated(quick: list[float]) -> None:
    calls, call = _failing(1, RuntimeError("engine exploded"))
    with pytest.raises(RuntimeError):
        while_database_down(call, "test")
    assert len(calls) == 1 and quick == []


def test_past_its_budget_the_error_goes_on(quick: list[float]) -> None:
    calls, call = _failing(100, DisconnectionError("refused"))
    with pytest.raises(DisconnectionError):
        while_database_down(call, "test", outage_s=0)
    assert len(calls) == 1

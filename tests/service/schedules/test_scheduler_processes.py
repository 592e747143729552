"""Two `medsafe scheduler` processes on the real PostgreSQL and Redis, a schedule due every
minute, until two minute boundaries have passed (and both processes have polled several times
since the second): exactly one eval per fire time, then a restart fires nothing more."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from service import migrate
from service.db import session_scope
from service.models import Eval, ScheduleFire
from tests.conftest import POSTGRES_URL, REDIS_URL, migrated_postgres_schema
from tests.service.api.conftest import add_dataset
from tests.service.schedules.helpers import make_schedule
from tests.settings_support import medsafe_settings

POLL_S = 2
# A fire time counts as surely due once every scheduler has polled twice after it.
SETTLE_S = POLL_S + 5
START_S = 60  # a scheduler's start (imports, database checks) under a loaded machine


@pytest.fixture
def shared_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh schema on the real PostgreSQL (SQLite where there is none, as conftest says)."""
    if not POSTGRES_URL:
        url = f"sqlite:///{tmp_path / 'shared.db'}"
        migrate.upgrade(url)
        with medsafe_settings(monkeypatch, url, tmp_path / "data", REDIS_URL):
            yield url
        return
    with migrated_postgres_schema() as url, medsafe_settings(
            monkeypatch, url, tmp_path / "data", REDIS_URL):
        yield url


def _schedulers(url: str, tmp_path: Path, count: int) -> list[tuple[subprocess.Popen[bytes], Path]]:
    """count scheduler processes, each with its stderr in a log file of its own."""
    env = {**os.environ, "MEDSAFE_DATABASE_URL": url, "MEDSAFE_DATA_DIR": str(tmp_path),
           "MEDSAFE_SCHEDULER_INTERVAL_S": str(POLL_S),
           "MEDSAFE_QUEUE_PREFIX": f"sched{uuid.uuid4().hex[:6]}"}
    if REDIS_URL:
        env["MEDSAFE_REDIS_URL"] = REDIS_URL
    started = []
    for _ in range(count):
        log = tmp_path / f"scheduler-{uuid.uuid4().hex[:6]}.log"
        with log.open("wb") as err:
            started.append((subprocess.Popen([sys.executable, "-m", "cli.app", "scheduler"],
                                             env=env, stdout=subprocess.DEVNULL, stderr=err),
                            log))
    return started


def _wait_started(processes: list[tuple[subprocess.Popen[bytes], Path]]) -> None:
    """Until every scheduler has its SIGTERM handler and runs its loop (it logs so)."""
    deadline = time.monotonic() + START_S
    for process, log in processes:
        while "scheduler started" not in log.read_text(errors="replace"):
            assert process.poll() is None, log.read_text(errors="replace")[-4000:]
            assert time.monotonic() < deadline, log.read_text(errors="replace")[-4000:]
            time.sleep(0.1)


def _stop(processes: list[tuple[subprocess.Popen[bytes], Path]]) -> None:
    for process, _ in processes:
        process.terminate()
    for process, log in processes:
        # a clean exit on SIGTERM
        assert process.wait(timeout=30) == 0, log.read_text(errors="replace")[-4000:]


def _surely_due(created: datetime, now: datetime) -> list[datetime]:
    """The minute boundaries after created that every scheduler has surely seen by now."""
    minute = timedelta(minutes=1)
    boundaries = [created.replace(second=0, microsecond=0) + k * minute for k in range(1, 5)]
    return [b for b in boundaries if b <= now - timedelta(seconds=SETTLE_S)]


def test_two_schedulers_over_two_fire_times_start_one_eval_per_fire_time(
        shared_database: str, tmp_path: Path) -> None:
    add_dataset(shared_database)
    created = datetime.now(UTC)
    make_schedule(shared_database, created_at=created)
    processes = _schedulers(shared_database, tmp_path, 2)
    try:
        _wait_started(processes)
        # Between 67 s and 127 s: until the second minute boundary is surely due.
        while len(_surely_due(created, datetime.now(UTC))) < 2:
            time.sleep(0.5)
    finally:
        _stop(processes)
    stopped = datetime.now(UTC)

    with session_scope(shared_database) as session:
        fires = session.scalars(select(ScheduleFire)).all()
        evals = session.scalars(select(Eval)).all()
    surely_due = _surely_due(created, stopped)
    fired = sorted(f.fire_time for f in fires)
    assert len(surely_due) >= 2
    assert fired[:len(surely_due)] == surely_due  # every minute fired, none missed
    assert all(b <= stopped for b in fired) and len(fired) <= len(surely_due) + 1
    # Exactly one eval per fire time, each linked from its fire.
    assert Counter(e.fire_time for e in evals) == Counter(fired)
    assert sorted(f.eval_id for f in fires) == sorted(e.id for e in evals)

    restarted = _schedulers(shared_database, tmp_path, 1)  # a restart within the minute
    try:
        _wait_started(restarted)
        time.sleep(POLL_S * 2 + 1)  # its first pass and two more
    finally:
        _stop(restarted)
    with session_scope(shared_database) as session:
        again = session.scalars(select(ScheduleFire.fire_time)).all()
    assert len(again) - len(fired) <= 1  # at most the minute that turned meanwhile
    assert len(set(again)) == len(again)

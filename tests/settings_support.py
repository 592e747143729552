"""Pointing MedSafe's settings at a test's own database, data folder and Redis."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from service.config import get_settings


@contextmanager
def medsafe_settings(monkeypatch: pytest.MonkeyPatch, database_url: str, data_dir: Path,
                     redis_url: str = "") -> Iterator[None]:
    """MEDSAFE_DATABASE_URL, MEDSAFE_DATA_DIR and MEDSAFE_REDIS_URL (unset without a URL:
    the queue starts an embedded Redis), read afresh by get_settings inside the block."""
    monkeypatch.setenv("MEDSAFE_DATABASE_URL", database_url)
    monkeypatch.setenv("MEDSAFE_DATA_DIR", str(data_dir))
    if redis_url:
        monkeypatch.setenv("MEDSAFE_REDIS_URL", redis_url)
    else:
        monkeypatch.delenv("MEDSAFE_REDIS_URL", raising=False)
    get_settings.cache_clear()
    try:
        yield
    finally:
        get_settings.cache_clear()

"""Shared fixtures: a fresh schema on the real PostgreSQL (and on SQLite) for each test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from service import db
from service.models import Base

POSTGRES_URL = os.environ.get("MEDSAFE_TEST_POSTGRES_URL", "")


def _postgres_params() -> list[str]:
    return ["postgresql"] if POSTGRES_URL else []


@pytest.fixture(params=["sqlite", *_postgres_params()])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL with all tables created and empty; both backends where available."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.db'}"
        db.create_all(url)
        yield url
        db.get_engine(url).dispose()
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    url = f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    Base.metadata.create_all(db.get_engine(url))
    try:
        yield url
    finally:
        db.get_engine(url).dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def bundled_engine():  # type: ignore[no-untyped-def]
    """The bundled model on a real vLLM engine, started once for the whole test session."""
    from service.config import get_settings
    from workers.engines import load_engine

    return load_engine("bundled:smollm2", get_settings())

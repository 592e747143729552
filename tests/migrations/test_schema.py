"""The migrations build exactly the schema the models describe, and 0003 keeps priorities."""

from __future__ import annotations

import json
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from service import migrate
from service.db import get_engine
from service.models import Base


def _differences(url: str) -> list[Any]:
    with get_engine(url).connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def test_upgrade_head_matches_the_models(db_url: str) -> None:
    assert _differences(db_url) == []


def test_the_comparison_sees_a_schema_that_differs(db_url: str) -> None:
    with get_engine(db_url).begin() as connection:
        connection.execute(text("ALTER TABLE evals ADD COLUMN stray INTEGER"))
    assert [diff[0] for diff in _differences(db_url)] == ["remove_column"]


@pytest.mark.parametrize("priority", ["high", None])
def test_0003_moves_the_priority_from_settings_to_its_column(
        db_url: str, priority: str | None) -> None:
    command.downgrade(migrate.alembic_config(db_url), "0002")
    settings = {"grading": "score", **({"priority": priority} if priority else {})}
    with get_engine(db_url).begin() as connection:
        connection.execute(text(
            "INSERT INTO evals (id, status, model, judge, dataset_ids, settings, labels, "
            "n_items, created_at) VALUES ('e1', 'queued', 'm', 'j', '[]', :settings, '{}', 0, "
            "CURRENT_TIMESTAMP)"), {"settings": json.dumps(settings)})
    migrate.upgrade(db_url)
    with get_engine(db_url).connect() as connection:
        row = connection.execute(text("SELECT priority, settings FROM evals")).one()
    stored = row.settings if isinstance(row.settings, dict) else json.loads(row.settings)
    assert row.priority == (priority or "default")
    assert stored == {"grading": "score"}

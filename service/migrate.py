"""Runs the Alembic migrations in migrations/ against the configured database."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

import migrations

SCRIPTS = Path(migrations.__file__).resolve().parent


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the schema to `revision`; at head, also store the built-in datasets (an
    explicit step here, so that reading a dataset never writes)."""
    command.upgrade(alembic_config(url), revision)
    if revision == "head":
        from service.benchmarks.store import install_builtin_datasets
        from service.db import session_scope

        with session_scope(url) as session:
            install_builtin_datasets(session)


def migrated_database_url() -> str:
    """The configured database's URL, its schema brought up to date first (what every
    command that opens the database does before anything else)."""
    from service.config import get_settings

    url = get_settings().resolved_database_url()
    upgrade(url)
    return url

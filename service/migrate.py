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
    """Migrate the schema to `revision` (Alembic); no data is written."""
    command.upgrade(alembic_config(url), revision)


def prepare_database(url: str) -> None:
    """The schema at head and the built-in datasets and labelled sets stored: what a database
    needs before MedSafe uses it. Storing the built-in sets is this explicit step, so that
    reading a dataset never writes."""
    from service.benchmarks.store import install_builtin_datasets
    from service.calibration.store import install_builtin_labelled_sets
    from service.db import session_scope

    upgrade(url)
    with session_scope(url) as session:
        install_builtin_datasets(session)
        install_builtin_labelled_sets(session)


def migrated_database_url() -> str:
    """The configured database's URL, prepared first (what every command that opens the
    database does before anything else)."""
    from service.config import get_settings

    url = get_settings().resolved_database_url()
    prepare_database(url)
    return url

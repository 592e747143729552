"""an eval's queue priority as a column (it was a key of evals.settings)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 22:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_evals = sa.table("evals", sa.column("id", sa.String), sa.column("settings", sa.JSON),
                  sa.column("priority", sa.String))


def upgrade() -> None:
    with op.batch_alter_table("evals") as batch:
        batch.add_column(sa.Column("priority", sa.String(length=16), nullable=False,
                                   server_default="default"))
    connection = op.get_bind()
    for eval_id, settings in connection.execute(sa.select(_evals.c.id, _evals.c.settings)):
        if isinstance(settings, dict) and "priority" in settings:
            rest = {key: value for key, value in settings.items() if key != "priority"}
            connection.execute(_evals.update().where(_evals.c.id == eval_id).values(
                priority=str(settings["priority"]), settings=rest))


def downgrade() -> None:
    connection = op.get_bind()
    for eval_id, settings, priority in connection.execute(
            sa.select(_evals.c.id, _evals.c.settings, _evals.c.priority)):
        connection.execute(_evals.update().where(_evals.c.id == eval_id).values(
            settings={**(settings or {}), "priority": priority}))
    with op.batch_alter_table("evals") as batch:
        batch.drop_column("priority")

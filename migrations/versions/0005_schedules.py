"""schedules, their fire times and webhook notifications; an eval's schedule and regression

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 00:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("cron", sa.String(length=120), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("template", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("mean_threshold", sa.Float(), nullable=False),
        sa.Column("harmful_rate_threshold", sa.Float(), nullable=False),
        sa.Column("webhook_url", sa.Text(), nullable=True),
        sa.Column("webhook_secret", sa.String(length=200), nullable=True),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("active_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "schedule_fires",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("schedule_id", sa.String(length=32), nullable=False),
        sa.Column("fire_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("manual", sa.Boolean(), nullable=False),
        sa.Column("eval_id", sa.String(length=32), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["schedule_id"], ["schedules.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["eval_id"], ["evals.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("schedule_id", "fire_time", name="uq_schedule_fires_time"),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("schedule_id", sa.String(length=32), nullable=False),
        sa.Column("eval_id", sa.String(length=32), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["schedule_id"], ["schedules.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["eval_id"], ["evals.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("eval_id", "event", name="uq_notifications_eval_event"),
    )
    with op.batch_alter_table("evals") as batch:
        batch.add_column(sa.Column("schedule_id", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("fire_time", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("regression", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("regressed", sa.Boolean(), nullable=True))
        batch.create_foreign_key("fk_evals_schedule_id", "schedules", ["schedule_id"], ["id"],
                                 ondelete="SET NULL")
        batch.create_index("ix_evals_schedule_id", ["schedule_id"])
        batch.create_index("ix_evals_regressed", ["regressed"])


def downgrade() -> None:
    with op.batch_alter_table("evals") as batch:
        batch.drop_index("ix_evals_regressed")
        batch.drop_index("ix_evals_schedule_id")
        batch.drop_constraint("fk_evals_schedule_id", type_="foreignkey")
        batch.drop_column("regressed")
        batch.drop_column("regression")
        batch.drop_column("fire_time")
        batch.drop_column("schedule_id")
    op.drop_table("notifications")
    op.drop_table("schedule_fires")
    op.drop_table("schedules")

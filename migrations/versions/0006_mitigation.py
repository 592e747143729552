"""multiple-choice items (options, answer) and graded answers (correct); fine-tunes and
mitigation studies

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 02:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("options", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("answer", sa.String(length=8), nullable=True))
    with op.batch_alter_table("judgments") as batch:
        batch.add_column(sa.Column("correct", sa.Boolean(), nullable=True))
    op.create_table(
        "finetunes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("base", sa.String(length=300), nullable=False),
        sa.Column("model", sa.String(length=300), nullable=False),
        sa.Column("dataset_ids", sa.JSON(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("prompt_hashes", sa.JSON(), nullable=False),
        sa.Column("progress", sa.JSON(), nullable=True),
        sa.Column("loss_curve", sa.JSON(), nullable=False),
        sa.Column("adapter_path", sa.Text(), nullable=True),
        sa.Column("artifact", sa.JSON(), nullable=True),
        sa.Column("worker", sa.String(length=200), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    op.create_index("ix_finetunes_status", "finetunes", ["status"])
    op.create_table(
        "mitigations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("model", sa.String(length=300), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("base_eval_id", sa.String(length=32), nullable=True),
        sa.Column("finetune_id", sa.String(length=32), nullable=True),
        sa.Column("adapter_eval_id", sa.String(length=32), nullable=True),
        sa.Column("report", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["base_eval_id"], ["evals.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["finetune_id"], ["finetunes.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["adapter_eval_id"], ["evals.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    op.create_index("ix_mitigations_status", "mitigations", ["status"])


def downgrade() -> None:
    op.drop_index("ix_mitigations_status", table_name="mitigations")
    op.drop_table("mitigations")
    op.drop_index("ix_finetunes_status", table_name="finetunes")
    op.drop_table("finetunes")
    with op.batch_alter_table("judgments") as batch:
        batch.drop_column("correct")
    with op.batch_alter_table("items") as batch:
        batch.drop_column("answer")
        batch.drop_column("options")

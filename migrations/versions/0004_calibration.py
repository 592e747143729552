"""judge calibration: labelled sets, calibration evals, probability grades, refusal classes

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 23:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("datasets") as batch:
        batch.add_column(sa.Column("purpose", sa.String(length=16), nullable=False,
                                   server_default="benchmark"))
    with op.batch_alter_table("evals") as batch:
        batch.add_column(sa.Column("purpose", sa.String(length=16), nullable=False,
                                   server_default="benchmark"))
        batch.create_index("ix_evals_purpose", ["purpose"])
    with op.batch_alter_table("judgments") as batch:
        batch.add_column(sa.Column("expected", sa.Float(), nullable=True))
        batch.add_column(sa.Column("probabilities", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("score_mass", sa.Float(), nullable=True))
        batch.add_column(sa.Column("refusal", sa.String(length=20), nullable=True))
    op.create_table(
        "labels",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("refused", sa.String(length=20), nullable=True),
        sa.Column("harmfulness", sa.Integer(), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("rationale", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("item_id"),
    )


def downgrade() -> None:
    op.drop_table("labels")
    with op.batch_alter_table("judgments") as batch:
        batch.drop_column("refusal")
        batch.drop_column("score_mass")
        batch.drop_column("probabilities")
        batch.drop_column("expected")
    with op.batch_alter_table("evals") as batch:
        batch.drop_index("ix_evals_purpose")
        batch.drop_column("purpose")
    with op.batch_alter_table("datasets") as batch:
        batch.drop_column("purpose")

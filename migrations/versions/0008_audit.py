"""who created what, and the audit log

Evals (calibrations included), fine-tunes, mitigation studies, schedules and datasets record
their creator: the API key that sent the request (created_by_key_id) and a readable name
(created_by: the key, or the local user of the CLI). API keys record who created them.
audit_events keeps every creation, cancellation, revocation and upload.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OWNED = ("evals", "finetunes", "mitigations", "schedules", "datasets")


def upgrade() -> None:
    for table in OWNED:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("created_by", sa.String(200), nullable=True))
            batch.add_column(sa.Column("created_by_key_id", sa.Integer(), nullable=True))
            batch.create_foreign_key(f"fk_{table}_created_by_key", "api_keys",
                                     ["created_by_key_id"], ["id"], ondelete="SET NULL")
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("created_by", sa.String(200), nullable=True))
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("key_id", sa.Integer(),
                  sa.ForeignKey("api_keys.id", ondelete="SET NULL"), nullable=True),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("target_type", sa.String(32), nullable=False),
        sa.Column("target_id", sa.String(200), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_index("ix_audit_events_key_id", "audit_events", ["key_id"])
    op.create_index("ix_audit_events_target", "audit_events", ["target_type", "target_id"])


def downgrade() -> None:
    op.drop_table("audit_events")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("created_by")
    for table in OWNED:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f"fk_{table}_created_by_key", type_="foreignkey")
            batch.drop_column("created_by_key_id")
            batch.drop_column("created_by")

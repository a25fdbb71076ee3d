"""Operations: eval suites and runs; per-item change times and deletion marks for sync between instances.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Last-writer-wins sync compares these times; rows written before this migration count as old (0).
    for table in ("api_keys", "model_aliases", "settings"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("updated_at", sa.Float, nullable=False, server_default="0"))
    with op.batch_alter_table("connections") as batch:
        batch.add_column(sa.Column("proxy_enc", sa.Text, nullable=True))  # encrypted per-account proxy
    op.create_table(
        "sync_tombstones",
        sa.Column("kind", sa.String(40), primary_key=True),
        sa.Column("item_id", sa.String(200), primary_key=True),
        sa.Column("deleted_at", sa.Float, nullable=False),
    )
    op.create_table(
        "eval_suites",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("cases_json", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "eval_runs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("suite_id", sa.String(36), nullable=False),
        sa.Column("target", sa.String(400), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float, nullable=True),
        sa.Column("passed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("total", sa.Integer, nullable=False, server_default="0"),
        sa.Column("score", sa.Float, nullable=True),
        sa.Column("latency_p50_ms", sa.Integer, nullable=True),
        sa.Column("latency_max_ms", sa.Integer, nullable=True),
        sa.Column("results_json", sa.Text, nullable=True),
    )
    op.create_index("ix_eval_runs_suite_started", "eval_runs", ["suite_id", "started_at"])


def downgrade() -> None:
    raise NotImplementedError("downgrades would drop users' data; restore a backup instead")

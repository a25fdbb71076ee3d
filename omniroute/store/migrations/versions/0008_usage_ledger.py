"""The ledger: fallback attempts linked to their request, request details, media counts, history index.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("usage") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("images", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("audio_seconds", sa.Float, nullable=False, server_default="0"))
    # History reads only these columns: the index answers it without touching the table.
    op.create_index("ix_usage_history", "usage", ["timestamp", "prompt_tokens", "completion_tokens", "cost"])
    op.create_index("ix_usage_key_time", "usage", ["api_key_id", "timestamp"])
    op.create_table(
        "usage_attempts",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("timestamp", sa.Float, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("provider", sa.String(100), nullable=True),
        sa.Column("connection_id", sa.String(36), nullable=True),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("latency_ms", sa.Integer, nullable=True),
    )
    op.create_index("ix_usage_attempts_request_id", "usage_attempts", ["request_id"])
    op.create_index("ix_usage_attempts_timestamp", "usage_attempts", ["timestamp"])
    op.create_table(
        "request_logs",
        sa.Column("id", sa.String(36), primary_key=True),  # the usage row's id
        sa.Column("timestamp", sa.Float, nullable=False),
        sa.Column("method", sa.String(10), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("request_headers_json", sa.Text, nullable=False),
        sa.Column("request_body", sa.Text, nullable=True),
        sa.Column("response_headers_json", sa.Text, nullable=True),
        sa.Column("response_body", sa.Text, nullable=True),
        sa.Column("truncated", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_request_logs_timestamp", "request_logs", ["timestamp"])


def downgrade() -> None:
    raise NotImplementedError("downgrades would drop users' data; restore a backup instead")

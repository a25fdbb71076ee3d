"""The response cache's persistent tier, and usage rows that mark idempotent replays.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "response_cache",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("model", sa.String(300), nullable=False),
        sa.Column("value_json", sa.Text, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("hits", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_response_cache_expires_at", "response_cache", ["expires_at"])
    op.create_index("ix_response_cache_model", "response_cache", ["model"])
    with op.batch_alter_table("usage") as batch:
        batch.add_column(sa.Column("idempotent", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    raise NotImplementedError("downgrades would drop users' data; restore a backup instead")

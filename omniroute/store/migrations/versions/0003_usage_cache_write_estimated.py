"""Usage rows: cache-write tokens, and whether the counts were estimated by the gateway.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("usage") as batch:
        batch.add_column(sa.Column("cache_write_tokens", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("estimated", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    raise NotImplementedError("downgrades would drop users' data; restore a backup instead")

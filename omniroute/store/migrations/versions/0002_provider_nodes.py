"""Provider nodes: their own model list and an update time.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("provider_nodes") as batch:
        batch.add_column(sa.Column("models_json", sa.Text, nullable=True))
        batch.add_column(sa.Column("updated_at", sa.Float, nullable=True))
    op.execute("UPDATE provider_nodes SET updated_at = created_at")
    with op.batch_alter_table("provider_nodes") as batch:
        batch.alter_column("updated_at", existing_type=sa.Float, nullable=False)


def downgrade() -> None:
    raise NotImplementedError("downgrades would drop users' data; restore a backup instead")

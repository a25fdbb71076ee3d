"""Connections: subscription (OAuth) credentials, token expiry, a concurrency limit, and a provider
data blob (account ids, project ids and the like that a subscription upstream needs).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("connections") as batch:
        batch.add_column(sa.Column("oauth_enc", sa.Text, nullable=True))
        batch.add_column(sa.Column("token_expires_at", sa.Float, nullable=True))
        batch.add_column(sa.Column("max_concurrency", sa.Integer, nullable=True))
        batch.add_column(sa.Column("provider_data_json", sa.Text, nullable=True))


def downgrade() -> None:
    raise NotImplementedError("downgrades would drop users' data; restore a backup instead")

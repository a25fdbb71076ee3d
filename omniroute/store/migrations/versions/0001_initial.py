"""Initial schema: connections, provider nodes, api keys, settings, usage, audit log.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connections",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("provider", sa.String(100), nullable=False, index=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("auth_type", sa.String(20), nullable=False),
        sa.Column("api_key_enc", sa.Text, nullable=True),
        sa.Column("base_url", sa.Text, nullable=True),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("is_active", sa.Boolean, nullable=False),
        sa.Column("default_model", sa.String(200), nullable=True),
        sa.Column("headers_json", sa.Text, nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("rate_limited_until", sa.Float, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "provider_nodes",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("prefix", sa.String(100), nullable=False, unique=True),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("base_url", sa.Text, nullable=False),
        sa.Column("chat_path", sa.Text, nullable=True),
        sa.Column("models_path", sa.Text, nullable=True),
        sa.Column("headers_json", sa.Text, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("key_hint", sa.String(40), nullable=False),
        sa.Column("scopes_json", sa.Text, nullable=False),
        sa.Column("allowed_models_json", sa.Text, nullable=True),
        sa.Column("expires_at", sa.Float, nullable=True),
        sa.Column("revoked_at", sa.Float, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "settings",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value_json", sa.Text, nullable=False),
    )
    op.create_table(
        "usage",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("timestamp", sa.Float, nullable=False),
        sa.Column("api_key_id", sa.String(36), nullable=True),
        sa.Column("provider", sa.String(100), nullable=True),
        sa.Column("connection_id", sa.String(36), nullable=True),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("requested_model", sa.String(200), nullable=True),
        sa.Column("combo", sa.String(200), nullable=True),
        sa.Column("client_format", sa.String(40), nullable=True),
        sa.Column("upstream_format", sa.String(40), nullable=True),
        sa.Column("prompt_tokens", sa.Integer, nullable=False),
        sa.Column("completion_tokens", sa.Integer, nullable=False),
        sa.Column("cached_tokens", sa.Integer, nullable=False),
        sa.Column("reasoning_tokens", sa.Integer, nullable=False),
        sa.Column("cost", sa.Float, nullable=False),
        sa.Column("latency_ms", sa.Integer, nullable=True),
        sa.Column("ttft_ms", sa.Integer, nullable=True),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("cache", sa.String(10), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
    )
    op.create_index("ix_usage_timestamp", "usage", ["timestamp"])
    op.create_index("ix_usage_api_key_id", "usage", ["api_key_id"])
    op.create_index("ix_usage_provider", "usage", ["provider"])
    op.create_index("ix_usage_connection_id", "usage", ["connection_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("timestamp", sa.Float, nullable=False, index=True),
        sa.Column("actor", sa.String(100), nullable=True),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("target", sa.Text, nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("ip", sa.String(64), nullable=True),
    )


def downgrade() -> None:
    raise NotImplementedError("downgrades would drop users' data; restore a backup instead")

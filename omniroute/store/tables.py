"""The schema, as SQLAlchemy Core tables. It grows only by migrations."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

metadata = MetaData()

connections = Table(
    "connections",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("provider", String(100), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("auth_type", String(20), nullable=False, default="apikey"),
    Column("api_key_enc", Text, nullable=True),
    Column("base_url", Text, nullable=True),
    Column("priority", Integer, nullable=False, default=1),
    Column("is_active", Boolean, nullable=False, default=True),
    Column("default_model", String(200), nullable=True),
    Column("headers_json", Text, nullable=True),
    Column("status", String(20), nullable=False, default="active"),
    Column("rate_limited_until", Float, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("oauth_enc", Text, nullable=True),  # encrypted JSON: access/refresh tokens of a subscription
    Column("token_expires_at", Float, nullable=True),
    Column("max_concurrency", Integer, nullable=True),
    Column("provider_data_json", Text, nullable=True),
    Column("proxy_enc", Text, nullable=True),  # encrypted {"url", "noProxy"}: overrides the global proxy
)

provider_nodes = Table(
    "provider_nodes",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("prefix", String(100), nullable=False, unique=True),
    Column("type", String(40), nullable=False),
    Column("base_url", Text, nullable=False),
    Column("chat_path", Text, nullable=True),
    Column("models_path", Text, nullable=True),
    Column("headers_json", Text, nullable=True),  # encrypted, like a connection's headers
    Column("models_json", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# Models added to a provider's lists (hidden false) or taken out of them (hidden true).
provider_models = Table(
    "provider_models",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("provider", String(100), nullable=False),
    Column("model", String(200), nullable=False),
    Column("type", String(20), nullable=False),
    Column("hidden", Boolean, nullable=False),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("provider", "model", "type", name="uq_provider_models_provider_model_type"),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("alias", String(200), primary_key=True),
    Column("model", String(400), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False, default=0.0, server_default="0"),  # sync: last change
)

# Combos: a name clients use like a model, standing for an ordered or weighted set of targets.
combos = Table(
    "combos",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("models_json", Text, nullable=False),
    Column("strategy", String(40), nullable=False),
    Column("config_json", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("key_hint", String(40), nullable=False),
    Column("scopes_json", Text, nullable=False, default="[]"),
    Column("allowed_models_json", Text, nullable=True),
    Column("expires_at", Float, nullable=True),
    Column("revoked_at", Float, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False, default=0.0, server_default="0"),  # sync: last change
)

settings = Table(
    "settings",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value_json", Text, nullable=False),
    Column("updated_at", Float, nullable=False, default=0.0, server_default="0"),  # sync: last change
)

# Sync between instances: an item deleted here, so a peer's older copy does not bring it back.
sync_tombstones = Table(
    "sync_tombstones",
    metadata,
    Column("kind", String(40), primary_key=True),  # connections, provider_nodes, combos, model_aliases, api_keys
    Column("item_id", String(200), primary_key=True),
    Column("deleted_at", Float, nullable=False),
)

# Evals: named suites of cases (a prompt and a check), and their runs against a model or combo.
eval_suites = Table(
    "eval_suites",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("description", Text, nullable=True),
    Column("cases_json", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

eval_runs = Table(
    "eval_runs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("suite_id", String(36), nullable=False),
    Column("target", String(400), nullable=False),
    Column("status", String(20), nullable=False),  # running, done, failed
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float, nullable=True),
    Column("passed", Integer, nullable=False, default=0, server_default="0"),
    Column("total", Integer, nullable=False, default=0, server_default="0"),
    Column("score", Float, nullable=True),
    Column("latency_p50_ms", Integer, nullable=True),
    Column("latency_max_ms", Integer, nullable=True),
    Column("results_json", Text, nullable=True),
    Index("ix_eval_runs_suite_started", "suite_id", "started_at"),
)

usage = Table(
    "usage",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("timestamp", Float, nullable=False),
    Column("api_key_id", String(36), nullable=True),
    Column("provider", String(100), nullable=True),
    Column("connection_id", String(36), nullable=True),
    Column("model", String(200), nullable=True),
    Column("requested_model", String(200), nullable=True),
    Column("combo", String(200), nullable=True),
    Column("client_format", String(40), nullable=True),
    Column("upstream_format", String(40), nullable=True),
    Column("prompt_tokens", Integer, nullable=False, default=0),
    Column("completion_tokens", Integer, nullable=False, default=0),
    Column("cached_tokens", Integer, nullable=False, default=0),
    Column("reasoning_tokens", Integer, nullable=False, default=0),
    Column("cost", Float, nullable=False, default=0.0),
    Column("latency_ms", Integer, nullable=True),
    Column("ttft_ms", Integer, nullable=True),
    Column("status", Integer, nullable=False),
    Column("cache", String(10), nullable=True),
    Column("error", Text, nullable=True),
    Column("cache_write_tokens", Integer, nullable=False, default=0, server_default="0"),
    Column("estimated", Boolean, nullable=False, default=False, server_default=false()),
    Column("idempotent", Boolean, nullable=False, default=False, server_default=false()),
    Column("attempts", Integer, nullable=False, default=0, server_default="0"),  # upstream calls made
    Column("images", Integer, nullable=False, default=0, server_default="0"),
    Column("audio_seconds", Float, nullable=False, default=0.0, server_default="0"),
    Index("ix_usage_timestamp", "timestamp"),
    Index("ix_usage_api_key_id", "api_key_id"),
    Index("ix_usage_provider", "provider"),
    Index("ix_usage_connection_id", "connection_id"),
    Index("ix_usage_history", "timestamp", "prompt_tokens", "completion_tokens", "cost"),
    Index("ix_usage_key_time", "api_key_id", "timestamp"),
)

# One row per failed upstream attempt of a request that fell back (the request's own row is in usage).
usage_attempts = Table(
    "usage_attempts",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("request_id", String(36), nullable=False),  # usage.id of the client request
    Column("timestamp", Float, nullable=False),
    Column("attempt", Integer, nullable=False),  # 1 = the first upstream call
    Column("provider", String(100), nullable=True),
    Column("connection_id", String(36), nullable=True),
    Column("model", String(200), nullable=True),
    Column("status", Integer, nullable=False),
    Column("error", Text, nullable=True),
    Column("latency_ms", Integer, nullable=True),
    Index("ix_usage_attempts_request_id", "request_id"),
    Index("ix_usage_attempts_timestamp", "timestamp"),
)

# Headers and bodies of a request and its answer, kept only while detailed logging is on (redacted).
request_logs = Table(
    "request_logs",
    metadata,
    Column("id", String(36), primary_key=True),  # usage.id
    Column("timestamp", Float, nullable=False),
    Column("method", String(10), nullable=False),
    Column("path", Text, nullable=False),
    Column("request_headers_json", Text, nullable=False),
    Column("request_body", Text, nullable=True),
    Column("response_headers_json", Text, nullable=True),
    Column("response_body", Text, nullable=True),
    Column("truncated", Boolean, nullable=False, default=False, server_default=false()),
    Index("ix_request_logs_timestamp", "timestamp"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("timestamp", Float, nullable=False, index=True),
    Column("actor", String(100), nullable=True),
    Column("action", String(100), nullable=False),
    Column("target", Text, nullable=True),
    Column("status", String(20), nullable=False),
    Column("ip", String(64), nullable=True),
)

response_cache = Table(
    "response_cache",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("model", String(300), nullable=False),
    Column("value_json", Text, nullable=False),  # the canonical answer (omniroute/cache/codec.py)
    Column("size", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("hits", Integer, nullable=False, default=0, server_default="0"),
    Index("ix_response_cache_expires_at", "expires_at"),
    Index("ix_response_cache_model", "model"),
)

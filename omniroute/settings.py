"""One Settings object, read from the environment once at start-up."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

_TRUE = {"1", "true", "yes", "on"}


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in _TRUE


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"environment variable {name} must be an integer, got {raw!r}") from exc


def _float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"environment variable {name} must be a number, got {raw!r}") from exc


def normalize_database_url(url: str) -> str:
    """Turn user-facing URLs (postgresql://, sqlite:///) into async driver URLs."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        return "postgresql+asyncpg://" + url[len("postgresql://"):]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///"):]
    return url


@dataclass(frozen=True)
class Settings:
    """Everything configurable, with the defaults of the reference."""

    host: str = "127.0.0.1"
    port: int = 20128
    data_dir: Path = field(default_factory=lambda: Path.home() / ".omniroute")
    database_url: str = ""
    redis_url: str = ""  # set: counters, breakers, budgets, sessions and locks shared with other instances
    redis_prefix: str = "omniroute:"
    require_api_key: bool = False
    initial_password: str | None = None
    jwt_secret: str = ""
    storage_encryption_key: str = ""
    log_level: str = "info"
    max_body_bytes: int = 20 * 1024 * 1024
    upstream_connect_timeout_s: float = 10.0
    upstream_read_timeout_s: float = 600.0
    upstream_pool_size: int = 512
    usage_flush_interval_s: float = 0.5
    usage_batch_size: int = 500
    keep_alive_timeout_s: int = 75
    purge_interval_s: float = 3600.0  # usage retention: seconds between purges (0 = no background purge)
    shutdown_timeout_s: float = 30.0  # graceful stop: how long requests in flight may take to finish

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides) -> Settings:
        """Read the environment; generate and keep secrets in DATA_DIR when unset."""
        env = dict(os.environ if env is None else env)
        data_dir = Path(overrides.pop("data_dir", None) or env.get("DATA_DIR") or Path.home() / ".omniroute")
        data_dir = data_dir.expanduser().resolve()
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # secrets and the database live here
        db_url = env.get("DATABASE_URL") or f"sqlite:///{data_dir / 'storage.sqlite'}"
        values = dict(
            host=env.get("HOST") or "127.0.0.1",
            port=_int(env, "PORT", 20128),
            data_dir=data_dir,
            database_url=normalize_database_url(db_url),
            redis_url=env.get("REDIS_URL") or "",
            redis_prefix=env.get("REDIS_PREFIX") or "omniroute:",
            require_api_key=_bool(env.get("REQUIRE_API_KEY")),
            initial_password=env.get("INITIAL_PASSWORD") or None,
            jwt_secret=env.get("JWT_SECRET") or _kept_secret(data_dir, "jwt_secret"),
            storage_encryption_key=env.get("STORAGE_ENCRYPTION_KEY")
            or _kept_secret(data_dir, "storage_encryption_key"),
            log_level=(env.get("LOG_LEVEL") or "info").lower(),
            max_body_bytes=_int(env, "MAX_BODY_BYTES", 20 * 1024 * 1024),
            usage_flush_interval_s=_int(env, "USAGE_FLUSH_INTERVAL_MS", 500) / 1000,
            purge_interval_s=_float(env, "OMNIROUTE_PURGE_INTERVAL_S", 3600.0),
            shutdown_timeout_s=_float(env, "SHUTDOWN_TIMEOUT_S", 30.0),
        )
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def _kept_secret(data_dir: Path, name: str) -> str:
    """A random secret generated on first run and kept (mode 0600) in the data directory."""
    path = data_dir / f".{name}"
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value

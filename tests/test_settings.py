"""Settings from the environment; secrets generated once and kept in the data directory."""

from __future__ import annotations

import stat

import pytest

from omniroute.settings import Settings, normalize_database_url


def test_defaults(tmp_path):
    s = Settings.from_env({}, data_dir=tmp_path)
    assert s.port == 20128
    assert s.host == "127.0.0.1"
    assert s.data_dir == tmp_path.resolve()
    assert s.database_url == f"sqlite+aiosqlite:///{tmp_path.resolve() / 'storage.sqlite'}"
    assert s.is_sqlite
    assert s.require_api_key is False
    assert s.initial_password is None
    assert s.log_level == "info"
    assert s.max_body_bytes == 20 * 1024 * 1024


def test_data_dir_is_created(tmp_path):
    target = tmp_path / "nested" / "data"
    s = Settings.from_env({}, data_dir=target)
    assert target.is_dir()
    assert s.database_url.endswith(f"{target.resolve()}/storage.sqlite")


def test_data_dir_from_env(tmp_path):
    s = Settings.from_env({"DATA_DIR": str(tmp_path / "d")})
    assert s.data_dir == (tmp_path / "d").resolve()
    assert (tmp_path / "d" / ".jwt_secret").exists()


def test_values_from_env(tmp_path):
    s = Settings.from_env(
        {"PORT": "8080", "HOST": "0.0.0.0", "LOG_LEVEL": "DEBUG", "INITIAL_PASSWORD": "pw",
         "MAX_BODY_BYTES": "1024"},
        data_dir=tmp_path,
    )
    assert s.port == 8080
    assert s.host == "0.0.0.0"
    assert s.log_level == "debug"
    assert s.initial_password == "pw"
    assert s.max_body_bytes == 1024


def test_empty_values_fall_back_to_defaults(tmp_path):
    s = Settings.from_env({"PORT": "", "HOST": "", "REQUIRE_API_KEY": " "}, data_dir=tmp_path)
    assert s.port == 20128
    assert s.host == "127.0.0.1"
    assert s.require_api_key is False


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@db:5432/omni", "postgresql+asyncpg://u:p@db:5432/omni"),
        ("postgres://u:p@db/omni", "postgresql+asyncpg://u:p@db/omni"),
        ("sqlite:///var/lib/omni.sqlite", "sqlite+aiosqlite:///var/lib/omni.sqlite"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgresql+asyncpg://u@h/d", "postgresql+asyncpg://u@h/d"),
    ],
)
def test_database_url_normalised(tmp_path, url, expected):
    assert normalize_database_url(url) == expected
    s = Settings.from_env({"DATABASE_URL": url}, data_dir=tmp_path)
    assert s.database_url == expected
    assert s.is_sqlite == expected.startswith("sqlite")


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "yes", "On", " true "])
def test_require_api_key_truthy(tmp_path, value):
    assert Settings.from_env({"REQUIRE_API_KEY": value}, data_dir=tmp_path).require_api_key is True


@pytest.mark.parametrize("value", ["0", "false", "no", "off", "maybe", ""])
def test_require_api_key_falsy(tmp_path, value):
    assert Settings.from_env({"REQUIRE_API_KEY": value}, data_dir=tmp_path).require_api_key is False


@pytest.mark.parametrize("value", ["abc", "80.5", "20128x"])
def test_port_must_be_an_integer(tmp_path, value):
    with pytest.raises(ValueError, match="PORT") as info:
        Settings.from_env({"PORT": value}, data_dir=tmp_path)
    assert repr(value) in str(info.value)


def test_secrets_generated_once_and_kept(tmp_path):
    first = Settings.from_env({}, data_dir=tmp_path)
    assert len(first.jwt_secret) >= 32
    assert len(first.storage_encryption_key) >= 32
    assert first.jwt_secret != first.storage_encryption_key
    for name, value in ((".jwt_secret", first.jwt_secret),
                        (".storage_encryption_key", first.storage_encryption_key)):
        path = tmp_path / name
        assert path.read_text().strip() == value
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    second = Settings.from_env({}, data_dir=tmp_path)
    assert second.jwt_secret == first.jwt_secret
    assert second.storage_encryption_key == first.storage_encryption_key


def test_separate_data_dirs_get_separate_secrets(tmp_path):
    a = Settings.from_env({}, data_dir=tmp_path / "a")
    b = Settings.from_env({}, data_dir=tmp_path / "b")
    assert a.jwt_secret != b.jwt_secret
    assert a.storage_encryption_key != b.storage_encryption_key


def test_env_secrets_win_over_kept_files(tmp_path):
    kept = Settings.from_env({}, data_dir=tmp_path)
    s = Settings.from_env({"JWT_SECRET": "env-jwt", "STORAGE_ENCRYPTION_KEY": "env-key"}, data_dir=tmp_path)
    assert s.jwt_secret == "env-jwt"
    assert s.storage_encryption_key == "env-key"
    # The kept files are left alone.
    assert (tmp_path / ".jwt_secret").read_text().strip() == kept.jwt_secret


def test_env_secrets_do_not_create_files(tmp_path):
    Settings.from_env({"JWT_SECRET": "j", "STORAGE_ENCRYPTION_KEY": "k"}, data_dir=tmp_path)
    assert not (tmp_path / ".jwt_secret").exists()
    assert not (tmp_path / ".storage_encryption_key").exists()


def test_explicit_overrides_win(tmp_path):
    s = Settings.from_env({"PORT": "1"}, data_dir=tmp_path, port=9999, host=None)
    assert s.port == 9999
    assert s.host == "127.0.0.1"


def test_settings_are_frozen(tmp_path):
    s = Settings.from_env({}, data_dir=tmp_path)
    with pytest.raises(AttributeError):
        s.port = 1  # type: ignore[misc]

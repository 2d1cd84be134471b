from pathlib import Path

import pytest
from pydantic import ValidationError

from aftersail.kit.config import Environment, Settings


def test_development_accepts_the_default_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AFTERSAIL_SECRET_KEY", raising=False)
    settings = Settings(env=Environment.DEVELOPMENT, _env_file=None)  # type: ignore[call-arg]
    assert settings.resolved_database_url.startswith("sqlite+aiosqlite:///")


def test_production_refuses_the_default_secret() -> None:
    with pytest.raises(ValidationError, match="AFTERSAIL_SECRET_KEY is still the default"):
        Settings(env=Environment.PRODUCTION, _env_file=None)  # type: ignore[call-arg]


def test_production_refuses_a_short_secret() -> None:
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings(env=Environment.PRODUCTION, secret_key="short", _env_file=None)  # type: ignore[call-arg]


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AFTERSAIL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AFTERSAIL_PORT", "8123")
    monkeypatch.setenv("AFTERSAIL_DEFAULT_LOCALE", "de")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.port == 8123
    assert settings.base_url == "http://127.0.0.1:8123"
    assert settings.resolved_database_url.endswith(f"{tmp_path.resolve()}/aftersail.db")
    assert settings.default_locale == "de"


def test_unknown_default_locale_is_refused() -> None:
    with pytest.raises(ValidationError, match="AFTERSAIL_DEFAULT_LOCALE"):
        Settings(default_locale="xx", _env_file=None)  # type: ignore[call-arg]


def test_secret_never_prints() -> None:
    settings = Settings(secret_key="a-very-secret-value-that-is-long-enough", _env_file=None)  # type: ignore[call-arg]
    assert "a-very-secret" not in repr(settings)


def test_secure_cookies_follow_https_base_url() -> None:
    assert Settings(public_base_url="https://desk.example.com", _env_file=None).cookies_secure  # type: ignore[call-arg]
    assert not Settings(_env_file=None).cookies_secure  # type: ignore[call-arg]

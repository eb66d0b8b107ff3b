from __future__ import annotations

import pytest

from mlmon.errors import ConfigError
from mlmon.settings import (
    CommonSettings,
    DriftSettings,
    ModelServerSettings,
    StatsSettings,
    load_settings,
    parse_duration,
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for key in list(__import__("os").environ):
        if key.startswith("MLMON_"):
            monkeypatch.delenv(key)


def problems_of(cls, monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, str]:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as info:
        load_settings(cls)
    return dict(info.value.problems)


def test_defaults_are_valid() -> None:
    for cls in (CommonSettings, ModelServerSettings, StatsSettings, DriftSettings):
        settings = load_settings(cls)
        assert settings.store.startswith("sqlite:///")
    assert load_settings(StatsSettings).windows == ["1h", "1d"]
    assert load_settings(DriftSettings).port == 8002


def test_env_prefix_and_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLMON_STORE", "https://es.example:9200")
    monkeypatch.setenv("MLMON_STORE_PASSWORD", "s3cret")
    monkeypatch.setenv("MLMON_FEEDBACK_TOKEN", "zq-7781-token")
    settings = load_settings(ModelServerSettings)
    assert settings.store == "https://es.example:9200"
    assert settings.store_password is not None and settings.store_password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings) and "zq-7781" not in repr(settings)


def test_dotenv_file_is_read(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("MLMON_PORT=9123\nMLMON_ALERT_EMAIL_TO=a@x.io, b@y.io\n")
    settings = load_settings(StatsSettings)
    assert settings.port == 9123
    assert settings.alert_email_to == ["a@x.io", "b@y.io"]


@pytest.mark.parametrize(
    ("cls", "env", "field", "fragment"),
    [
        (CommonSettings, {"MLMON_STORE": "mysql://db"}, "MLMON_STORE", "sqlite:/// or http(s)://"),
        (CommonSettings, {"MLMON_PORT": "70000"}, "MLMON_PORT", "less than or equal to 65535"),
        (CommonSettings, {"MLMON_PROMETHEUS_URL": "prometheus:9090"}, "MLMON_PROMETHEUS_URL", "http(s)://"),
        (CommonSettings, {"MLMON_LOG_LEVEL": "LOUD"}, "MLMON_LOG_LEVEL", "DEBUG"),
        (
            StatsSettings,
            {"MLMON_ALERT_EMAIL_TO": "ops@x.io,not-an-address"},
            "MLMON_ALERT_EMAIL_TO",
            "not an email address: not-an-address",
        ),
        (StatsSettings, {"MLMON_WINDOWS": "1h,forever"}, "MLMON_WINDOWS", "'forever' is not a duration"),
        (DriftSettings, {"MLMON_WINDOW": "7x"}, "MLMON_WINDOW", "'7x' is not a duration"),
        (DriftSettings, {"MLMON_ALPHA": "2"}, "MLMON_ALPHA", "less than 1"),
        (ModelServerSettings, {"MLMON_UNKNOWN_FIELDS": "maybe"}, "MLMON_UNKNOWN_FIELDS", "'reject' or 'ignore'"),
    ],
)
def test_each_bad_value_is_named(monkeypatch, cls, env, field, fragment) -> None:
    problems = problems_of(cls, monkeypatch, **env)
    assert field in problems, problems
    assert fragment in problems[field]


def test_all_problems_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    problems = problems_of(DriftSettings, monkeypatch, MLMON_STORE="x", MLMON_WINDOW="7x", MLMON_PORT="-1")
    assert {"MLMON_STORE", "MLMON_WINDOW", "MLMON_PORT"} <= set(problems)


def test_parse_duration() -> None:
    assert parse_duration("90s") == 90
    assert parse_duration("5m") == 300
    assert parse_duration("1d") == 86400
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("1 hour")

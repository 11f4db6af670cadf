"""Hub settings: file, then ENLACE_* variables, then flags; wrong values name where."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from hub.config import HubSettings, load_settings, parse_duration
from hub.errors import ConfigError


def write(home: Path, text: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    (home / "enlace.yaml").write_text(text, encoding="utf-8")
    return home


def test_defaults_without_a_file() -> None:
    settings = load_settings(None)
    assert settings.acceptance_window == timedelta(hours=24)
    assert settings.clock_skew == timedelta(minutes=5)
    assert settings.embedded
    assert settings.url == "nats://127.0.0.1:4222"


def test_file_then_env_then_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = write(tmp_path, "hub:\n  workers: 3\n  nats_port: 5000\n  acceptance_window: 2h\n")
    assert load_settings(home).workers == 3
    monkeypatch.setenv("ENLACE_WORKERS", "5")
    settings = load_settings(home)
    assert (settings.workers, settings.nats_port) == (5, 5000)
    assert settings.acceptance_window == timedelta(hours=2)
    assert load_settings(home, workers=7, nats_port=None).workers == 7


def test_nested_stream_settings_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENLACE_STREAMS__REPLICAS", "3")
    assert load_settings(tmp_path).streams.replicas == 3


def test_top_level_keys_are_read_when_there_is_no_hub_section(tmp_path: Path) -> None:
    home = write(tmp_path, "deployment: demo\nclock_skew: 30s\n")
    assert load_settings(home).clock_skew == timedelta(seconds=30)


def test_wrong_value_in_the_file_names_file_line_and_field(tmp_path: Path) -> None:
    home = write(tmp_path, "hub:\n  workers: 2\n  clock_skew: soon\n")
    with pytest.raises(ConfigError) as err:
        load_settings(home)
    text = str(err.value)
    assert f"{home / 'enlace.yaml'}:3" in text
    assert "clock_skew" in text


def test_unknown_setting_in_the_hub_section_is_refused(tmp_path: Path) -> None:
    home = write(tmp_path, "hub:\n  wokers: 2\n")
    with pytest.raises(ConfigError, match="wokers"):
        load_settings(home)


def test_wrong_env_value_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENLACE_WORKERS", "many")
    with pytest.raises(ConfigError, match="ENLACE_WORKERS"):
        load_settings(tmp_path)


def test_durations() -> None:
    assert parse_duration("250ms") == timedelta(milliseconds=250)
    assert parse_duration("7d") == timedelta(days=7)
    assert parse_duration(90) == timedelta(seconds=90)
    assert HubSettings(clock_skew="1m").clock_skew == timedelta(minutes=1)

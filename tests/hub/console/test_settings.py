"""Console settings: file, environment, flags; a non-loopback address is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.config import load_settings
from hub.console.errors import ConsoleBindRefused
from hub.console.settings import check_loopback, load_console_settings
from hub.errors import ConfigError


def test_defaults_file_environment_and_flags_in_that_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_console_settings(None).url == "http://127.0.0.1:8400"
    (tmp_path / "enlace.yaml").write_text("hub:\n  workers: 2\nconsole:\n  port: 8500\n")
    assert load_console_settings(tmp_path).port == 8500
    monkeypatch.setenv("ENLACE_CONSOLE_PORT", "8600")
    assert load_console_settings(tmp_path).port == 8600
    assert load_console_settings(tmp_path, port=8700).port == 8700
    load_settings(tmp_path)  # the hub's settings ignore the console's section and variables


def test_a_wrong_value_names_the_setting(tmp_path: Path) -> None:
    (tmp_path / "enlace.yaml").write_text("console:\n  port: nine\n")
    with pytest.raises(ConfigError, match=r"console\.port"):
        load_console_settings(tmp_path)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_addresses_are_allowed(host: str) -> None:
    check_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "::", "console.example.org"])
def test_other_addresses_are_refused_until_tls(host: str) -> None:
    with pytest.raises(ConsoleBindRefused, match="loopback") as caught:
        check_loopback(host)
    assert caught.value.code == "console_bind_refused"

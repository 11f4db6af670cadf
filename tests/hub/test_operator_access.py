from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.cli import cli
from hub.cli.exit_codes import ExitCode
from hub.deployment import Deployment
from hub.errors import ConfigError, NatsUnreachable
from hub.server.operator_access import connect_operator, resolve_nats_url


def _deployment(tmp_path: Path, port: int) -> Path:
    home = tmp_path / "dep"
    home.mkdir()
    (home / "enlace.yaml").write_text(f"hub:\n  nats_port: {port}\n")
    return home


def test_the_server_comes_from_the_deployment_settings(tmp_path: Path) -> None:
    home = _deployment(tmp_path, 14999)
    assert resolve_nats_url(Deployment(home), None) == "nats://127.0.0.1:14999"
    assert resolve_nats_url(Deployment(home), "nats://h:1") == "nats://h:1"


def test_wrong_settings_are_a_config_error_and_a_usage_exit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ENLACE_NATS_URL", raising=False)
    home = _deployment(tmp_path, 14999)
    (home / "enlace.yaml").write_text("hub:\n  nats_port: not-a-port\n")
    with pytest.raises(ConfigError, match="nats_port"):
        resolve_nats_url(Deployment(home), None)
    result = CliRunner().invoke(cli, ["--home", str(home), "audit", "tail", "-n", "1"])
    assert result.exit_code == ExitCode.USAGE
    assert "nats_port" in result.output
    assert "Traceback" not in result.output


async def test_an_unreachable_server_is_a_typed_error_naming_it(tmp_path: Path) -> None:
    home = _deployment(tmp_path, 1)
    with pytest.raises(NatsUnreachable) as caught:
        await connect_operator(Deployment(home), "nats://127.0.0.1:1", "test")
    assert caught.value.code == "nats_unreachable"
    assert caught.value.url == "nats://127.0.0.1:1"
    assert "`enlace up`" in caught.value.description


def test_audit_commands_dial_the_deployment_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ENLACE_NATS_URL", raising=False)
    home = _deployment(tmp_path, 1)  # nothing listens on port 1
    result = CliRunner().invoke(cli, ["--home", str(home), "audit", "tail", "-n", "1"])
    assert result.exit_code == ExitCode.UNAVAILABLE
    assert "nats://127.0.0.1:1 " in result.output
    assert "Traceback" not in result.output


def test_old_password_logins_stop_an_audit_command_with_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ENLACE_NATS_URL", raising=False)
    home = _deployment(tmp_path, 1)
    (home / "nats").mkdir()
    (home / "nats" / "users.json").write_text('{"hub": "pw", "operator": "pw"}')
    result = CliRunner().invoke(cli, ["--home", str(home), "audit", "tail", "-n", "1"])
    assert result.exit_code == ExitCode.FAILED
    assert "password logins of an older Enlace" in result.output
    assert "`enlace up`" in result.output
    assert "Traceback" not in result.output

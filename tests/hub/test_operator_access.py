from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.cli import cli
from hub.cli.context import CliContext
from hub.cli.exit_codes import ExitCode
from hub.server.operator_access import resolve_nats_url


def _deployment(tmp_path: Path, port: int) -> Path:
    home = tmp_path / "dep"
    home.mkdir()
    (home / "enlace.yaml").write_text(f"hub:\n  nats_port: {port}\n")
    return home


def test_the_server_comes_from_the_deployment_settings(tmp_path: Path) -> None:
    home = _deployment(tmp_path, 14999)
    assert resolve_nats_url(CliContext(home), None) == "nats://127.0.0.1:14999"
    assert resolve_nats_url(CliContext(home), "nats://h:1") == "nats://h:1"


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

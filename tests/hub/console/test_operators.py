"""Operator accounts: argon2id hashes only, mode 0600, names and passwords checked."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.cli import cli
from hub.console.errors import OperatorError, OperatorExists, OperatorsFileInvalid, OperatorUnknown
from hub.console.operators import OperatorStore, Role
from hub.deployment import Deployment

PASSWORD = "correct horse battery"


def test_added_operator_authenticates_and_only_the_hash_is_stored(tmp_path: Path) -> None:
    store = OperatorStore(Deployment(tmp_path))
    store.add("ana", Role.AUDITOR, PASSWORD)
    text = store.path.read_text()
    assert PASSWORD not in text and "$argon2id$" in text
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    found = store.authenticate("ana", PASSWORD)
    assert found is not None and found.role is Role.AUDITOR
    assert store.authenticate("ana", PASSWORD + "x") is None
    assert store.authenticate("nobody", PASSWORD) is None


def test_refuses_a_taken_name_a_bad_name_a_short_password_and_an_unknown_removal(
    tmp_path: Path,
) -> None:
    store = OperatorStore(Deployment(tmp_path))
    store.add("ana", Role.VIEWER, PASSWORD)
    with pytest.raises(OperatorExists):
        store.add("ana", Role.VIEWER, PASSWORD)
    with pytest.raises(OperatorError, match="name"):
        store.add("Ana Smith", Role.VIEWER, PASSWORD)
    with pytest.raises(OperatorError, match="at least 12"):
        store.add("bo", Role.VIEWER, "short")
    with pytest.raises(OperatorUnknown):
        store.remove("bo")
    store.remove("ana")
    assert store.list() == []


def test_a_damaged_file_is_named(tmp_path: Path) -> None:
    store = OperatorStore(Deployment(tmp_path))
    store.path.write_text("{not json")
    with pytest.raises(OperatorsFileInvalid, match=r"operators\.json"):
        store.list()


def test_cli_adds_lists_and_removes(tmp_path: Path) -> None:
    runner = CliRunner()
    home = ["--home", str(tmp_path)]
    (tmp_path / "enlace.yaml").write_text("hub: {}\n")
    added = runner.invoke(
        cli,
        [*home, "operators", "add", "ana", "--role", "auditor", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert added.exit_code == 0, added.output
    listed = runner.invoke(cli, [*home, "operators", "list", "--json"])
    assert '"name": "ana"' in listed.output and '"role": "auditor"' in listed.output
    assert runner.invoke(cli, [*home, "operators", "remove", "ana"]).exit_code == 0
    again = runner.invoke(cli, [*home, "operators", "remove", "ana"])
    assert again.exit_code == 1 and "no operator named 'ana'" in again.output


def test_init_demo_prints_the_demo_operators_password_once_and_stores_its_hash(
    tmp_path: Path,
) -> None:
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "d"), "--demo", "--json"])
    assert result.exit_code == 0, result.output
    password = json.loads(result.output)["operator"]["password"]
    store = OperatorStore(Deployment(tmp_path / "d"))
    assert password not in store.path.read_text()
    operator = store.authenticate("demo", password)
    assert operator is not None and operator.role is Role.AUDITOR

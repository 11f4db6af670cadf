"""``enlace nats logins|authorization|rotate`` on a demo deployment, no server running.

Rotation with a running ``enlace up`` (the old seed refused, the new one let in) is in
``tests/integration/test_nats_rotate.py``.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from hub.cli.exit_codes import ExitCode
from hub.config import load_settings
from hub.deployment import Deployment
from hub.server.logins import (
    authorization_block,
    legacy_credentials_path,
    load_user,
    public_keys_path,
    seed_path,
    seeds_dir,
)
from hub.up.runner import pid_file
from hub.up.sinks import configured_sinks, delivery_consumers
from tests.hub.governance_fixtures import DemoHome, copy_demo, run


@pytest.fixture
def demo(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> DemoHome:
    return copy_demo(tmp_path_factory.getbasetemp(), tmp_path / "home")


def _seeds(deployment: Deployment) -> list[str]:
    """Every seed on this machine, to check that none is printed."""
    return [p.read_text().strip() for p in seeds_dir(deployment).glob("*.nk")]


def _no_seed_in(text: str, deployment: Deployment) -> None:
    seeds = _seeds(deployment)
    assert seeds
    assert not [s for s in seeds if s in text]
    # A seed's start ('SU') next to base32 would be one, whichever login it is of.
    assert '"SU' not in text and " SU" not in text


def _keys(deployment: Deployment) -> dict[str, str]:
    keys: dict[str, str] = json.loads(public_keys_path(deployment).read_text())
    return keys


def test_logins_lists_every_login_with_its_key_seed_and_permissions(demo: DemoHome) -> None:
    dep = demo.deployment
    seed_path(dep, "SV").unlink()  # handed over to SV's operators

    text = run(demo.home, "nats", "logins")
    listed = run(demo.home, "nats", "logins", "--json")

    assert text.exit_code == 0 and listed.exit_code == 0, text.output
    rows = {row["name"]: row for row in json.loads(listed.stdout)["logins"]}
    keys = _keys(dep)
    assert set(rows) == set(keys)
    assert list(rows)[:3] == ["hub", "operator", "system"]
    assert {name: row["public_key"] for name, row in rows.items()} == keys
    assert rows["SV"]["seed_here"] is False and rows["GT"]["seed_here"] is True
    assert rows["GT"]["role"] == "party" and rows["operator"]["role"] == "operator"
    assert "enlace.in.GT.>" in rows["GT"]["publish"]["allow"]
    assert rows["GT"]["subscribe"]["allow"] == [
        "_INBOX.GT.>",
        "enlace.outcome.GT.>",
        "enlace.rejected.GT",
    ]
    # The demo runs a folder sink for HN: its consumer is HN's to read.
    assert "$JS.API.CONSUMER.MSG.NEXT.DELIVERY.sink-HN-folder" in rows["HN"]["publish"]["allow"]
    assert "$JS.API.STREAM.DELETE.AUDIT" in rows["hub"]["publish"]["deny"]
    # The system account's login hears the server's disconnect events and publishes nothing.
    assert rows["system"]["role"] == "system"
    assert rows["system"]["publish"] == {"deny": [">"]}
    assert rows["system"]["subscribe"]["allow"] == ["$SYS.ACCOUNT.*.DISCONNECT", "_INBOX.system.>"]
    system = text.stdout.split("\nsystem ", 1)[1].split("\n")[:4]
    assert system[1:] == [
        "    publish:   -",
        "    denied:    >",
        "    subscribe: $SYS.ACCOUNT.*.DISCONNECT, _INBOX.system.>",
    ]
    assert keys["GT"] in text.stdout
    assert "seed NOT here" in next(ln for ln in text.stdout.splitlines() if ln.startswith("SV"))
    _no_seed_in(text.stdout + listed.stdout, dep)


def test_authorization_prints_the_block_of_the_embedded_server(demo: DemoHome) -> None:
    dep = demo.deployment
    consumers = delivery_consumers(configured_sinks(dep, load_settings(dep.home)))

    text = run(demo.home, "nats", "authorization")
    listed = run(demo.home, "nats", "authorization", "--json")

    assert text.exit_code == 0 and listed.exit_code == 0, text.output
    assert text.stdout.strip() == authorization_block(dep, consumers)
    assert json.loads(listed.stdout) == {
        "authorization": authorization_block(dep, consumers),
        "logins": _keys(dep),
    }
    assert all(key in text.stdout for key in _keys(dep).values())
    # The system login sits in the server's system account, not among the users above it.
    assert text.stdout.index(_keys(dep)["system"]) > text.stdout.index("accounts {\n  SYS {")
    assert text.stdout.strip().endswith("system_account: SYS")
    _no_seed_in(text.stdout + listed.stdout, dep)


def test_rotate_replaces_the_key_and_the_seed(demo: DemoHome) -> None:
    dep = demo.deployment
    before, old_seed = _keys(dep), seed_path(dep, "GT").read_bytes()

    result = run(demo.home, "nats", "rotate", "gt", "--json")  # any case: GT

    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    after = _keys(dep)
    assert out["login"] == "GT" and out["old_public_key"] == before["GT"]
    assert out["public_key"] == after["GT"] != before["GT"]
    assert out["hub_running"] is False and out["applied"] is None
    seed = seed_path(dep, "GT")
    assert seed.read_bytes() != old_seed
    assert stat.S_IMODE(seed.stat().st_mode) == 0o600
    assert load_user(dep, "GT").public_key == after["GT"]  # the seed is that key's
    assert {k: v for k, v in after.items() if k != "GT"} == {
        k: v for k, v in before.items() if k != "GT"
    }
    assert not [p for p in seeds_dir(dep).iterdir() if p.name.startswith(".")]  # no temp file
    _no_seed_in(result.output, dep)
    assert old_seed.decode().strip() not in result.output


def test_rotate_says_what_to_hand_over_and_when_it_takes_effect(demo: DemoHome) -> None:
    result = run(demo.home, "nats", "rotate", "HN")
    assert result.exit_code == 0, result.output
    assert "give " in result.stdout and "HN.nk to HN's operators" in result.stdout
    assert "not running here" in result.stdout


def test_rotate_of_an_unknown_login_lists_the_known_ones(demo: DemoHome) -> None:
    before = public_keys_path(demo.deployment).read_bytes()
    result = run(demo.home, "nats", "rotate", "MX")
    assert result.exit_code == ExitCode.USAGE
    assert "no NATS login 'MX'" in result.stderr
    assert "hub, operator, system, BZ, CR, DO, GT, HN, NI, PA, SV, US" in result.stderr
    assert public_keys_path(demo.deployment).read_bytes() == before


def test_rotating_the_hub_while_enlace_up_runs_is_refused(demo: DemoHome) -> None:
    dep = demo.deployment
    before = seed_path(dep, "hub").read_bytes()
    pid_file(dep).parent.mkdir(parents=True, exist_ok=True)
    pid_file(dep).write_text(f"{os.getpid()}\n")  # a live process: this test's

    result = run(demo.home, "nats", "rotate", "hub")

    assert result.exit_code == ExitCode.USAGE
    assert "stop `enlace up` first" in result.stderr
    assert seed_path(dep, "hub").read_bytes() == before


def test_rotating_the_hub_while_enlace_up_is_stopped_is_fine(demo: DemoHome) -> None:
    dep = demo.deployment
    pid_file(dep).parent.mkdir(parents=True, exist_ok=True)
    pid_file(dep).write_text("999999999\n")  # left by an `enlace up` that died
    result = run(demo.home, "nats", "rotate", "hub")
    assert result.exit_code == 0, result.output
    assert "from its next `enlace up`" in result.stdout


@pytest.mark.parametrize("command", [["logins"], ["authorization"], ["rotate", "GT"]])
def test_a_deployment_with_password_logins_is_told_to_run_enlace_up(
    demo: DemoHome, command: list[str]
) -> None:
    dep = demo.deployment
    public_keys_path(dep).unlink()
    legacy_credentials_path(dep).write_text(json.dumps({"hub": "hunter2-hub", "GT": "hunter2-gt"}))

    result = run(demo.home, "nats", *command)

    assert result.exit_code == ExitCode.FAILED
    assert "run `enlace up` once" in result.stderr
    assert "hunter2" not in result.output

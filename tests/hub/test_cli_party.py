"""``enlace party kit`` on a demo deployment, offline: what it refuses and what it replaces.

The kit in use (a party's adapters and publish run from it against a running hub) is in
``tests/integration/test_party_kit.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hub.cli.exit_codes import ExitCode
from tests.hub.governance_fixtures import DemoHome, copy_demo, run


@pytest.fixture
def demo(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> DemoHome:
    return copy_demo(tmp_path_factory.getbasetemp(), tmp_path / "home")


def test_a_country_that_is_no_party_is_refused(demo: DemoHome, tmp_path: Path) -> None:
    result = run(demo.home, "party", "kit", "MX", str(tmp_path / "kit"))
    assert result.exit_code == ExitCode.FAILED
    assert "MX is not a party of the directory" in result.output
    assert not (tmp_path / "kit").exists()


def test_a_folder_inside_the_deployment_is_refused(demo: DemoHome) -> None:
    result = run(demo.home, "party", "kit", "GT", str(demo.home / "kit"))
    assert result.exit_code == ExitCode.FAILED
    assert "inside the deployment" in result.output


def test_force_leaves_no_secret_of_the_kit_it_writes_over(demo: DemoHome, tmp_path: Path) -> None:
    folder = tmp_path / "kit"
    assert run(demo.home, "party", "kit", "SV", str(folder), "--with-poc-keys").exit_code == 0
    (folder / "inbox").mkdir()
    (folder / "inbox" / "kept.json").write_text("{}")
    refused = run(demo.home, "party", "kit", "GT", str(folder))
    assert refused.exit_code == ExitCode.FAILED and "--force" in refused.output
    assert (folder / "nats" / "seeds" / "SV.nk").is_file()  # untouched when refused
    result = run(demo.home, "party", "kit", "GT", str(folder), "--force", "--json")
    assert result.exit_code == 0, result.output
    written = json.loads(result.output)
    assert written["country"] == "GT"
    assert sorted(p.name for p in (folder / "nats" / "seeds").iterdir()) == ["GT.nk"]
    assert [p.name for p in (folder / "keys" / "party").iterdir()] == ["GT"]
    assert not (folder / "keys" / "poc").exists()  # not asked for this time
    assert (folder / "inbox" / "kept.json").is_file()  # what the party received stays
    settings = (folder / "enlace.yaml").read_text()
    assert "party: GT" in settings and "SV" not in settings.split("adapters:")[1]

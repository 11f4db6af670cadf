from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from hub.admin.init import init_demo, init_deployment
from hub.config import load_settings
from hub.deployment import Deployment
from hub.errors import InitError
from schemas.common import PARTIES, THEMES
from schemas.registry import REGISTRY
from schemas.trust import accept_directory, read_accepted_version
from tests.hub.governance_fixtures import DemoHome, copy_demo, run


@pytest.fixture
def demo(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> DemoHome:
    return copy_demo(tmp_path_factory.getbasetemp(), tmp_path / "home")


def _private_key_lines(home: Path) -> set[str]:
    lines = set()
    for pem in (home / "keys").rglob("*.pem"):
        lines |= {line for line in pem.read_text().splitlines() if "-----" not in line}
    return lines


def test_init_demo_makes_a_complete_verified_deployment(tmp_path: Path) -> None:
    home = tmp_path / "demo"
    result = run(None, "init", str(home), "--demo")
    assert result.exit_code == 0, result.output
    assert "Created a demo deployment" in result.output
    assert "BZ CR DO GT HN NI PA SV US" in result.output
    for name in ("enlace.yaml", "trust-root.yaml", "directory.yaml"):
        assert (home / name).is_file()
    for name in ("agreements", "keys", "state", "samples"):
        assert (home / name).is_dir()
    directory = accept_directory(Deployment(home))
    assert directory.version == 1
    assert directory.party_codes == PARTIES
    assert len(directory.pocs) == len(PARTIES) * len(THEMES)
    gt_gangs = directory.poc("gt-gangs")
    assert gt_gangs is not None
    assert gt_gangs.agency == "Policía Nacional Civil"
    assert gt_gangs.contact["email"].endswith("@enlace.example")
    assert all(p.keys for p in directory.parties)
    assert read_accepted_version(home / "state") == 1
    verified = run(home, "directory", "verify")
    assert verified.exit_code == 0, verified.output
    assert "OK, version 1, signed by all 9 parties" in verified.output


def test_every_key_file_is_owner_only_and_no_output_shows_a_key(demo: DemoHome) -> None:
    home = demo.home
    pems = list((home / "keys").rglob("*.pem"))
    assert demo.summary.keys == 9 + 9 + 1 + 72
    assert len(pems) == demo.summary.keys + 1  # and the deployment CA's (keys/tls/)
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in pems)
    folders = [p for p in (home / "keys").rglob("*") if p.is_dir()]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o700 for p in [home / "keys", *folders])
    secrets = _private_key_lines(home)
    outputs = [
        run(home, "directory", "show").output,
        run(home, "directory", "show", "--json").output,
        run(home, "keys", "new", "--poc", "gt-gangs").output,
        run(home, "keys", "rotate", "--poc", "hn-gangs", "--json").output,
    ]
    for output in outputs:
        assert "PRIVATE KEY" not in output
        assert not any(secret in output for secret in secrets)


def test_every_sample_verifies_with_enlace_verify(demo: DemoHome) -> None:
    samples = sorted(demo.deployment.samples_dir.glob("*.json"))
    assert [p.stem for p in samples] == REGISTRY.types()
    for sample in samples:
        assert sample.with_name(sample.name + ".jws").is_file()
        result = run(demo.home, "verify", str(sample), "--json")
        assert result.exit_code == 0, (sample.name, result.output)
        assert json.loads(result.output)["valid"] is True


def test_sample_replies_answer_the_sample_requests(demo: DemoHome) -> None:
    def sample(type_: str) -> Any:
        return json.loads((demo.deployment.samples_dir / f"{type_}.json").read_text())

    for reply, request in (
        ("information_response", "information_request"),
        ("firearm_trace_result", "firearm_trace_request"),
    ):
        assert sample(reply)["in_reply_to"] == sample(request)["id"]
        assert sample(reply)["theme"] == sample(request)["theme"]
    assert sample("firearm_trace_result")["sender"] == {
        "country": "US",
        "agency": "Bureau of Alcohol, Tobacco, Firearms and Explosives (ATF)",
        "poc": "us-small-arms",
    }
    assert sample("gang_movement")["sender"]["country"] == "GT"


def test_init_refuses_an_existing_deployment_and_changes_nothing(demo: DemoHome) -> None:
    before = {p: p.read_bytes() for p in demo.home.rglob("*") if p.is_file()}
    result = run(None, "init", str(demo.home), "--demo")
    assert result.exit_code == 1
    assert "already holds a deployment" in result.output
    assert {p: p.read_bytes() for p in demo.home.rglob("*") if p.is_file()} == before
    with pytest.raises(InitError):
        init_demo(demo.deployment)


def test_init_json_output(tmp_path: Path) -> None:
    result = run(None, "init", str(tmp_path / "d"), "--party", "gt", "--party", "US", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["parties"] == ["GT", "US"]
    assert summary["demo"] is False
    assert summary["pocs"] == 0
    assert summary["directory_version"] == 1


def test_a_plain_deployment_holds_the_named_parties(tmp_path: Path) -> None:
    home = tmp_path / "plain"
    assert run(None, "init", str(home), "--party", "CR", "--party", "PA").exit_code == 0
    directory = accept_directory(Deployment(home))
    assert directory.party_codes == ("CR", "PA")
    assert [p.name for p in directory.parties] == ["Costa Rica", "Panama"]
    assert not directory.pocs
    added = run(
        home,
        "keys",
        "new",
        "--poc",
        "cr-narcotics",
        "--country",
        "CR",
        "--agency",
        "Instituto Costarricense sobre Drogas",
        "--theme",
        "narcotics",
    )
    assert added.exit_code == 0, added.output
    assert "new key cr-narcotics-k1" in added.output
    assert accept_directory(Deployment(home)).poc("cr-narcotics") is not None


def test_init_needs_parties_or_demo(tmp_path: Path) -> None:
    result = run(None, "init", str(tmp_path / "x"))
    assert result.exit_code == 2
    assert "--party" in result.output
    wrong = run(None, "init", str(tmp_path / "y"), "--party", "XX")
    assert wrong.exit_code == 1
    assert "'XX' is not an ISO 3166-1" in wrong.output


def test_settings_file_documents_the_defaults(demo: DemoHome) -> None:
    text = demo.deployment.config_file.read_text()
    for line in (
        "nats_port: 4222",
        "max_message_bytes: 1048576",
        "acceptance_window: 24h",
        "clock_skew: 5m",
    ):
        assert line in text
    assert text.count("#") >= 5


def test_init_defaults_to_the_home_folder(tmp_path: Path) -> None:
    home = tmp_path / "from-home"
    result = run(home, "init", "--party", "SV")
    assert result.exit_code == 0, result.output
    assert accept_directory(Deployment(home)).party_codes == ("SV",)


@pytest.mark.parametrize("made", ["123456789012", "1e5000000000"])
def test_a_deployment_id_that_looks_like_a_number_stays_a_name(
    made: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("hub.admin.init.secrets.token_hex", lambda _: made)
    init_deployment(Deployment(tmp_path / "home"), ["GT"])
    assert load_settings(tmp_path / "home").deployment_id == made

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.cli.exit_codes import ExitCode
from hub.deployment import Deployment
from schemas.directory import Directory
from schemas.trust import accept_directory, read_accepted_version
from tests.hub.governance_fixtures import DemoHome, copy_demo, run


@pytest.fixture
def demo(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> DemoHome:
    return copy_demo(tmp_path_factory.getbasetemp(), tmp_path / "home")


def _directory(deployment: Deployment) -> Directory:
    return accept_directory(deployment)


def test_new_poc_key_makes_a_new_signed_version(demo: DemoHome) -> None:
    result = run(demo.home, "keys", "new", "--poc", "gt-gangs", "--json")
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.output)
    assert outcome["kid"] == "gt-gangs-k2"
    assert outcome["version"] == 2
    assert outcome["accepted"] is True
    key_file = Path(outcome["key_file"])
    assert key_file == demo.deployment.keys_dir / "poc" / "gt-gangs" / "gt-gangs-k2.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    poc = _directory(demo.deployment).poc("gt-gangs")
    assert poc is not None
    assert [k.kid for k in poc.keys] == ["gt-gangs-k1", "gt-gangs-k2"]
    assert read_accepted_version(demo.deployment.state_dir) == 2


def test_new_party_and_hub_keys(demo: DemoHome) -> None:
    party = run(demo.home, "keys", "new", "--party", "gt")
    assert party.exit_code == 0, party.output
    assert "new key gt-system-k2 for GT" in party.output
    hub = run(demo.home, "keys", "new", "--hub")
    assert "new key hub-k2 for the hub" in hub.output
    directory = _directory(demo.deployment)
    assert directory.version == 3
    assert [k.kid for k in directory.hub.keys] == ["hub-k1", "hub-k2"]
    gt = directory.party("GT")
    assert gt is not None
    assert [k.kid for k in gt.keys] == ["gt-system-k1", "gt-system-k2"]


def test_a_future_key_is_not_yet_used_for_signing(demo: DemoHome, tmp_path: Path) -> None:
    future = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    run(demo.home, "keys", "new", "--poc", "gt-gangs", "--not-before", future)
    message = tmp_path / "m.json"
    message.write_bytes((demo.deployment.samples_dir / "gang_movement.json").read_bytes())
    assert "with gt-gangs-k1" in run(demo.home, "sign", str(message), "--poc", "gt-gangs").output


def test_rotate_ends_the_old_key_after_the_overlap(demo: DemoHome) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    result = run(demo.home, "keys", "rotate", "--poc", "gt-gangs", "--overlap", "2d")
    assert result.exit_code == 0, result.output
    after = datetime.now(UTC)
    poc = _directory(demo.deployment).poc("gt-gangs")
    assert poc is not None
    old, new = poc.keys
    assert old.not_after is not None
    assert before + timedelta(days=2) <= old.not_after <= after + timedelta(days=2)
    assert new.kid == "gt-gangs-k2"
    assert new.not_after is None
    assert "gt-gangs-k1 valid until" in result.output


def test_revoke_at_a_given_time(demo: DemoHome) -> None:
    result = run(demo.home, "keys", "revoke", "hn-gangs-k1", "--at", "2026-03-01T00:00:00Z")
    assert result.exit_code == 0, result.output
    poc = _directory(demo.deployment).poc("hn-gangs")
    assert poc is not None
    assert poc.keys[0].revoked_at == datetime(2026, 3, 1, tzinfo=UTC)


def test_revoke_refuses_unknown_and_commission_keys(demo: DemoHome) -> None:
    unknown = run(demo.home, "keys", "revoke", "zz-k1")
    assert unknown.exit_code == ExitCode.FAILED
    assert "no key 'zz-k1'" in unknown.output
    commission = run(demo.home, "keys", "revoke", "gt-commission-k1")
    assert commission.exit_code == ExitCode.FAILED
    assert "trust-root.yaml" in commission.output
    assert _directory(demo.deployment).version == 1


def test_a_tampered_directory_is_not_re_signed(demo: DemoHome) -> None:
    path = demo.deployment.directory
    tampered = path.read_text().replace("name: Honduras", "name: Elsewhere")
    path.write_text(tampered)
    result = run(demo.home, "keys", "new", "--poc", "gt-gangs")
    assert result.exit_code == ExitCode.GOVERNANCE
    assert "governance_bad_signature" in result.output
    assert path.read_text() == tampered
    assert not (demo.deployment.keys_dir / "poc" / "gt-gangs" / "gt-gangs-k2.pem").exists()


def test_a_key_for_a_poc_of_a_non_party_is_refused_and_not_kept(demo: DemoHome) -> None:
    result = run(
        demo.home,
        *("keys", "new", "--poc", "mx-gangs", "--country", "MX"),
        *("--agency", "Guardia Nacional", "--theme", "gangs"),
    )
    assert result.exit_code == ExitCode.GOVERNANCE
    assert "governance_invalid" in result.output
    assert "MX is not a party" in result.output
    assert not (demo.deployment.keys_dir / "poc" / "mx-gangs" / "mx-gangs-k1.pem").exists()
    assert _directory(demo.deployment).version == 1


def test_usage_errors(demo: DemoHome) -> None:
    assert run(demo.home, "keys", "new").exit_code == ExitCode.USAGE
    both = run(demo.home, "keys", "new", "--hub", "--party", "GT")
    assert both.exit_code == ExitCode.USAGE
    stray = run(demo.home, "keys", "new", "--hub", "--agency", "X")
    assert stray.exit_code == ExitCode.USAGE
    unknown_poc = run(demo.home, "keys", "new", "--poc", "gt-nothing")
    assert unknown_poc.exit_code == ExitCode.USAGE
    assert "--country, --agency and --theme" in unknown_poc.output
    bad_overlap = run(demo.home, "keys", "rotate", "--poc", "gt-gangs", "--overlap", "week")
    assert bad_overlap.exit_code == ExitCode.USAGE

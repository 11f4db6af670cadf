from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hub.cli.exit_codes import ExitCode
from hub.governance.keystore import KeyKind, KeyStore
from schemas.govdoc import dump_yaml, load_document
from schemas.trust import read_accepted_version
from tests.hub.governance_fixtures import DemoHome, copy_demo, run


@pytest.fixture
def demo(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> DemoHome:
    return copy_demo(tmp_path_factory.getbasetemp(), tmp_path / "home")


def _refused(demo: DemoHome, code: str) -> str:
    result = run(demo.home, "directory", "verify")
    assert result.exit_code == ExitCode.GOVERNANCE, result.output
    assert f"[{code}]" in result.output
    as_json = json.loads(run(demo.home, "directory", "verify", "--json").stdout)
    assert as_json == {"ok": False, "code": code, "error": as_json["error"]}
    return result.output


def _line(demo: DemoHome, *loc: str | int) -> int | None:
    return load_document(demo.deployment.directory).line_of(loc)


def test_verify_reports_version_and_signers(demo: DemoHome) -> None:
    result = run(demo.home, "directory", "verify", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "ok": True,
        "version": 1,
        "signed_by": ["BZ", "CR", "DO", "GT", "HN", "NI", "PA", "SV", "US"],
    }


def test_an_unsigned_directory_is_refused(demo: DemoHome) -> None:
    path = demo.deployment.directory
    data = load_document(path).data
    del data["signatures"]
    dump_yaml(data, path)
    output = _refused(demo, "governance_unsigned")
    assert f"{path}:1: the directory is not signed" in output


def test_a_signature_by_a_wrong_key_is_refused(demo: DemoHome) -> None:
    path = demo.deployment.directory
    hn_key = KeyStore(demo.deployment.keys_dir).load(KeyKind.COMMISSION, "HN", "hn-commission-k1")
    dump_yaml(load_document(path).with_signature("GT", "gt-commission-k1", hn_key), path)
    output = _refused(demo, "governance_bad_signature")
    gt = [s.signer for s in load_document(path).signatures()].index("GT")
    assert f"{path}:{_line(demo, 'signatures', gt)}: signature by GT (gt-commission-k1)" in output


def test_a_value_changed_after_signing_is_refused(demo: DemoHome) -> None:
    path = demo.deployment.directory
    path.write_text(path.read_text().replace("name: Guatemala", "name: Guatemala City"))
    output = _refused(demo, "governance_bad_signature")
    assert "changed after signing" in output
    assert f"{path}:{_line(demo, 'signatures', 0)}: signature by BZ" in output


def test_a_malformed_directory_names_line_and_field(demo: DemoHome) -> None:
    path = demo.deployment.directory
    path.write_text(path.read_text().replace("- gangs\n", "- piracy\n", 1))
    output = _refused(demo, "governance_invalid")
    first = next(
        i for i, p in enumerate(load_document(path).data["pocs"]) if "piracy" in p["themes"]
    )
    line = _line(demo, "pocs", first, "themes", 0)
    assert f"{path}:{line}: field 'pocs.{first}.themes.0':" in output


def test_an_older_version_is_stale(demo: DemoHome, tmp_path: Path) -> None:
    path = demo.deployment.directory
    old = tmp_path / "directory-v1.yaml"
    shutil.copy(path, old)
    assert run(demo.home, "keys", "new", "--hub").exit_code == 0
    assert read_accepted_version(demo.deployment.state_dir) == 2
    shutil.copy(old, path)
    output = _refused(demo, "governance_stale_version")
    assert f"{path}:{_line(demo, 'version')}: directory version 1 is older than version 2" in output


def test_a_change_waits_for_the_parties_whose_keys_are_elsewhere(
    demo: DemoHome, tmp_path: Path
) -> None:
    us_keys = demo.deployment.keys_dir / "commission" / "US"
    away = tmp_path / "us-commission"
    shutil.move(us_keys, away)
    changed = run(demo.home, "keys", "new", "--poc", "gt-gangs")
    assert changed.exit_code == 0, changed.output
    assert "directory version 2 is waiting for signatures from US" in changed.output
    assert "enlace directory sign --party CC" in changed.output
    assert read_accepted_version(demo.deployment.state_dir) == 1
    assert "missing: US" in _refused(demo, "governance_unsigned")
    no_key = run(demo.home, "directory", "sign", "--party", "US")
    assert no_key.exit_code == 1
    assert "no commission key of US" in no_key.output
    shutil.move(away, us_keys)
    signed = run(demo.home, "directory", "sign", "--party", "us")
    assert signed.exit_code == 0, signed.output
    assert "version 2 signed by all 9 parties and accepted" in signed.output
    assert run(demo.home, "directory", "verify").exit_code == 0
    assert read_accepted_version(demo.deployment.state_dir) == 2


def test_sign_all_local_replaces_signatures_that_no_longer_hold(demo: DemoHome) -> None:
    path = demo.deployment.directory
    data = load_document(path).data
    data["version"] = 2
    data["parties"][0]["name"] = "Belice"
    dump_yaml(data, path)
    result = run(demo.home, "directory", "sign", "--all-local", "--json")
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.output)
    assert outcome["accepted"] is True
    assert outcome["version"] == 2
    assert len(outcome["dropped"]) == 9
    assert run(demo.home, "directory", "verify").exit_code == 0


def test_sign_needs_parties_or_all_local(demo: DemoHome) -> None:
    assert run(demo.home, "directory", "sign").exit_code == ExitCode.USAGE
    both = run(demo.home, "directory", "sign", "--party", "GT", "--all-local")
    assert both.exit_code == ExitCode.USAGE


def test_show_lists_parties_pocs_and_keys_without_private_material(demo: DemoHome) -> None:
    run(demo.home, "keys", "revoke", "gt-narcotics-k1")
    text = run(demo.home, "directory", "show")
    assert text.exit_code == 0
    assert "GT Guatemala (member): gt-system-k1 [valid]" in text.output
    assert "gt-narcotics-k1 [revoked]" in text.output
    assert "signed by: BZ, CR, DO, GT, HN, NI, PA, SV, US" in text.output
    shown = json.loads(run(demo.home, "directory", "show", "--json").output)
    assert shown["version"] == 2
    assert shown["accepted_version"] == 2
    assert shown["signatures"]["missing"] == []
    jwks = [k["jwk"] for p in shown["pocs"] for k in p["keys"]]
    assert jwks
    assert all(set(j) == {"kty", "crv", "x"} for j in jwks)

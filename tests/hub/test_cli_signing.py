from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.cli.exit_codes import ExitCode
from hub.governance.keystore import KeyStore
from schemas.govdoc import rfc3339
from schemas.jws import private_key_pem, sign_detached
from schemas.trust import load_directory, load_trust_root
from tests.hub.governance_fixtures import DemoHome, copy_demo, run


@pytest.fixture
def demo(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> DemoHome:
    return copy_demo(tmp_path_factory.getbasetemp(), tmp_path / "home")


@pytest.fixture
def message(demo: DemoHome, tmp_path: Path) -> Path:
    """A copy of the gang movement sample (GT, gangs), without its signature."""
    path = tmp_path / "gang.json"
    shutil.copy(demo.deployment.samples_dir / "gang_movement.json", path)
    return path


def _refused(demo: DemoHome, path: Path, *args: str) -> str:
    result = run(demo.home, "verify", str(path), "--json", *args)
    assert result.exit_code == ExitCode.FAILED, result.output
    outcome = json.loads(result.stdout)
    assert outcome["valid"] is False
    code: str = outcome["code"]
    return code


def test_sign_then_verify(demo: DemoHome, message: Path) -> None:
    signed = run(demo.home, "sign", str(message), "--poc", "gt-gangs")
    assert signed.exit_code == 0, signed.output
    assert "with gt-gangs-k1" in signed.output
    assert message.with_name("gang.json.jws").is_file()
    result = run(demo.home, "verify", str(message))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "valid: signed by gt-gangs (GT) with gt-gangs-k1"


def test_missing_or_garbled_signature_is_malformed(demo: DemoHome, message: Path) -> None:
    result = run(demo.home, "verify", str(message))
    assert result.exit_code == 1
    assert result.output.startswith("invalid: malformed_signature: no signature file")
    message.with_name("gang.json.jws").write_text("not a jws")
    assert _refused(demo, message) == "malformed_signature"


def test_a_key_not_in_the_directory_is_unknown(
    demo: DemoHome, message: Path, tmp_path: Path
) -> None:
    stranger = tmp_path / "stranger-k1.pem"
    stranger.write_bytes(private_key_pem(Ed25519PrivateKey.generate()))
    stranger.chmod(0o600)
    signed = run(demo.home, "sign", str(message), "--poc", "gt-gangs", "--key", str(stranger))
    assert signed.exit_code == 0
    assert "not in the directory" in signed.stderr
    assert _refused(demo, message) == "unknown_key"


def test_a_key_before_its_validity_is_not_yet_valid(demo: DemoHome, message: Path) -> None:
    run(demo.home, "sign", str(message), "--poc", "gt-gangs")
    early = rfc3339(datetime.now(UTC) - timedelta(days=30))
    assert _refused(demo, message, "--at", early) == "key_not_yet_valid"


def test_a_key_past_its_rotation_overlap_is_expired(demo: DemoHome, message: Path) -> None:
    run(demo.home, "sign", str(message), "--poc", "gt-gangs")
    rotated = run(demo.home, "keys", "rotate", "--poc", "gt-gangs", "--overlap", "7d")
    assert rotated.exit_code == 0, rotated.output
    assert "new key gt-gangs-k2" in rotated.output
    assert run(demo.home, "verify", str(message)).exit_code == 0  # inside the overlap
    later = rfc3339(datetime.now(UTC) + timedelta(days=8))
    assert _refused(demo, message, "--at", later) == "key_expired"
    resigned = run(demo.home, "sign", str(message), "--poc", "gt-gangs")
    assert "with gt-gangs-k2" in resigned.output


def test_a_revoked_key_is_refused(demo: DemoHome, message: Path) -> None:
    run(demo.home, "sign", str(message), "--poc", "gt-gangs")
    revoked = run(demo.home, "keys", "revoke", "gt-gangs-k1")
    assert revoked.exit_code == 0, revoked.output
    assert _refused(demo, message) == "key_revoked"
    before = rfc3339(datetime.now(UTC) - timedelta(hours=1))
    assert run(demo.home, "verify", str(message), "--at", before).exit_code == 0


def test_a_changed_byte_is_a_bad_signature(demo: DemoHome, message: Path) -> None:
    run(demo.home, "sign", str(message), "--poc", "gt-gangs")
    message.write_bytes(message.read_bytes().replace(b'"green"', b'"amber"'))
    assert _refused(demo, message) == "bad_signature"


def _sign_as(demo: DemoHome, message: Path, poc: str) -> None:
    """Write ``message``.jws with ``poc``'s key, as a tool other than `enlace sign` could."""
    dep = demo.deployment
    directory = load_directory(dep.directory, load_trust_root(dep.trust_root))
    kid, key = KeyStore(dep.keys_dir).current_poc_key(directory, poc)
    message.with_name(message.name + ".jws").write_text(
        sign_detached(message.read_bytes(), key, kid)
    )


def test_another_pocs_key_is_a_sender_mismatch(demo: DemoHome, message: Path) -> None:
    _sign_as(demo, message, "hn-gangs")
    result = run(demo.home, "verify", str(message))
    assert result.exit_code == 1
    assert "sender_mismatch" in result.output
    assert "belongs to 'hn-gangs'" in result.output


def test_sign_refuses_a_message_of_another_point_of_contact(demo: DemoHome, message: Path) -> None:
    result = run(demo.home, "sign", str(message), "--poc", "hn-gangs")
    assert result.exit_code == ExitCode.FAILED
    assert "sender_mismatch" in result.stderr
    assert "belongs to 'hn-gangs', but sender.poc is 'gt-gangs'" in result.stderr
    assert not message.with_name("gang.json.jws").exists()  # nothing the hub would refuse


def test_sign_refuses_a_theme_the_point_of_contact_does_not_serve(
    demo: DemoHome, message: Path
) -> None:
    data = json.loads(message.read_text())
    data["sender"]["poc"] = "gt-narcotics"
    message.write_text(json.dumps(data))
    result = run(demo.home, "sign", str(message), "--poc", "gt-narcotics", "--json")
    assert result.exit_code == ExitCode.FAILED
    refused = json.loads(result.stdout)
    assert (refused["signed"], refused["code"]) == (False, "sender_mismatch")
    assert "serves narcotics, not gangs" in refused["error"]
    assert not message.with_name("gang.json.jws").exists()


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"%PDF-1.7 not a message", "malformed_json"),
        (b'["a", "list"]', "invalid_envelope"),
        (b'{"id": "01JDQ7Z8Y6R3M4N5P6Q7R8S9T0"}', "invalid_envelope"),
    ],
)
def test_sign_refuses_a_file_that_is_not_a_message(
    demo: DemoHome, tmp_path: Path, content: bytes, code: str
) -> None:
    path = tmp_path / "report.pdf"
    path.write_bytes(content)
    result = run(demo.home, "sign", str(path), "--poc", "gt-gangs")
    assert result.exit_code == ExitCode.FAILED
    assert f"not signing {path}: {code}: " in result.stderr
    assert not path.with_name("report.pdf.jws").exists()


def test_a_valid_signature_on_an_invalid_payload_is_refused(demo: DemoHome, message: Path) -> None:
    data = json.loads(message.read_text())
    data["payload"] = {"nonsense": True}
    message.write_text(json.dumps(data))
    run(demo.home, "sign", str(message), "--poc", "gt-gangs")
    assert _refused(demo, message) == "schema_invalid"


def test_verify_needs_a_trusted_directory(demo: DemoHome, message: Path) -> None:
    run(demo.home, "sign", str(message), "--poc", "gt-gangs")
    directory = demo.deployment.directory
    directory.write_text(directory.read_text().replace("Policía Nacional Civil", "PNC", 1))
    result = run(demo.home, "verify", str(message))
    assert result.exit_code == ExitCode.GOVERNANCE
    assert "governance_bad_signature" in result.output


def test_sign_without_a_local_key_fails_clearly(demo: DemoHome, message: Path) -> None:
    shutil.rmtree(demo.deployment.keys_dir / "poc" / "gt-gangs")
    result = run(demo.home, "sign", str(message), "--poc", "gt-gangs")
    assert result.exit_code == 1
    assert "no poc key of gt-gangs" in result.output
    unknown = run(demo.home, "sign", str(message), "--poc", "zz-gangs")
    assert unknown.exit_code == 1
    assert "no point of contact 'zz-gangs'" in unknown.output


def test_commands_need_a_deployment(tmp_path: Path, message: Path) -> None:
    result = run(tmp_path / "nowhere", "verify", str(message))
    assert result.exit_code == ExitCode.NO_DEPLOYMENT

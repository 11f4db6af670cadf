"""``enlace consent`` on a party kit: the kit's own party consents, with its systems key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from schemas.handling import SignedConsent, verify_consent
from schemas.trust import load_directory, load_trust_root
from tests.hub.governance_fixtures import DemoHome, copy_demo, run

ORIGINAL = "01JD0000000000000000000000"


@pytest.fixture
def demo(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> DemoHome:
    return copy_demo(tmp_path_factory.getbasetemp(), tmp_path / "home")


def test_a_kit_consents_as_its_own_party(demo: DemoHome, tmp_path: Path) -> None:
    kit = tmp_path / "kit"
    assert run(demo.home, "party", "kit", "GT", str(kit)).exit_code == 0
    result = run(kit, "consent", ORIGINAL, "--to", "SV", "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    signed = SignedConsent.model_validate({k: shown[k] for k in ("consent", "jws")})
    directory = load_directory(kit / "directory.yaml", load_trust_root(kit / "trust-root.yaml"))
    consent = verify_consent(directory, signed)
    assert (consent.sender, consent.by, consent.message_id) == ("GT", "SV", ORIGINAL)

    # A kit speaks for its party only: the keys of another are not in it.
    other = run(kit, "consent", ORIGINAL, "--to", "SV", "--country", "HN")
    assert other.exit_code != 0
    assert "HN" in other.output


def test_a_key_file_outside_the_directory_is_refused_by_name(
    demo: DemoHome, tmp_path: Path
) -> None:
    stranger = tmp_path / "stranger.pem"
    stranger.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
        )
    )
    stranger.chmod(0o600)
    result = run(
        demo.home, "consent", ORIGINAL, "--to", "SV", "--country", "GT", "--key", str(stranger)
    )
    assert result.exit_code != 0
    assert f"{stranger} is not a key of GT or its points of contact" in result.output

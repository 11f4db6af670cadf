from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.errors import (
    GovernanceBadSignature,
    GovernanceError,
    GovernanceFileError,
    GovernanceStaleVersion,
    GovernanceUnsigned,
)
from schemas.govdoc import GovDoc, dump_yaml, load_document, rfc3339
from schemas.jws import jwk_from_public_key
from schemas.trust import (
    accept_directory,
    load_directory,
    load_trust_root,
    read_accepted_version,
    signature_status,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 6, 1, tzinfo=UTC)
PARTIES = ("GT", "HN", "US")


@dataclass
class Governance:
    """A trust root of three parties and a directory in a folder, with every private key."""

    root: Path
    commission: dict[str, Ed25519PrivateKey] = field(default_factory=dict)

    @property
    def trust_root(self) -> Path:
        return self.root / "trust-root.yaml"

    @property
    def directory(self) -> Path:
        return self.root / "directory.yaml"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    def write_directory(self, version: int = 1, **changes: Any) -> None:
        def record(kid: str) -> dict[str, Any]:
            key = Ed25519PrivateKey.generate().public_key()
            return {"kid": kid, "jwk": jwk_from_public_key(key), "not_before": rfc3339(T0)}

        data: dict[str, Any] = {
            "version": version,
            "issued_at": rfc3339(T0),
            "parties": [{"code": cc, "name": f"Party {cc}", "keys": []} for cc in PARTIES],
            "hub": {"id": "hub", "keys": [record("hub-k1")]},
            "pocs": [
                {
                    "id": "gt-gangs",
                    "country": "GT",
                    "agency": "Policía Nacional Civil",
                    "themes": ["gangs"],
                    "keys": [record("gt-gangs-k1")],
                }
            ],
        }
        data.update(changes)
        dump_yaml(data, self.directory)

    def sign(self, *parties: str, key: Ed25519PrivateKey | None = None, kid: str = "") -> None:
        for party in parties:
            doc = load_document(self.directory)
            signing_key = key or self.commission[party]
            data = doc.with_signature(party, kid or f"{party.lower()}-c1", signing_key)
            dump_yaml(data, self.directory)

    def load(self, min_version: int | None = None) -> Any:
        return load_directory(self.directory, load_trust_root(self.trust_root), min_version, NOW)


@pytest.fixture
def gov(tmp_path: Path) -> Governance:
    g = Governance(tmp_path)
    keys = []
    for cc in PARTIES:
        g.commission[cc] = Ed25519PrivateKey.generate()
        keys.append(
            {
                "party": cc,
                "kid": f"{cc.lower()}-c1",
                "jwk": jwk_from_public_key(g.commission[cc].public_key()),
                "not_before": rfc3339(T0),
            }
        )
    dump_yaml({"commission_keys": keys}, g.trust_root)
    g.write_directory()
    return g


def test_a_directory_signed_by_every_party_loads(gov: Governance) -> None:
    gov.sign(*PARTIES)
    directory = gov.load()
    assert directory.version == 1
    assert directory.poc("gt-gangs") is not None


def test_an_unsigned_directory_is_refused_with_file_and_line(gov: Governance) -> None:
    with pytest.raises(GovernanceUnsigned) as info:
        gov.load()
    assert f"{gov.directory}:1:" in info.value.description
    assert "GT, HN, US" in info.value.description


def test_missing_signers_are_named(gov: Governance) -> None:
    gov.sign("GT")
    with pytest.raises(GovernanceUnsigned, match="missing: HN, US"):
        gov.load()


def test_a_signature_by_a_key_the_trust_root_does_not_hold_is_refused(gov: Governance) -> None:
    gov.sign("GT", "HN")
    gov.sign("US", key=Ed25519PrivateKey.generate(), kid="us-c9")
    with pytest.raises(GovernanceBadSignature) as info:
        gov.load()
    text = info.value.description
    assert "signature by US (us-c9)" in text
    assert "not a commission key" in text
    line = load_document(gov.directory).line_of(("signatures", 2))
    assert f"{gov.directory}:{line}:" in text


def test_a_signature_with_another_partys_key_is_refused(gov: Governance) -> None:
    gov.sign("GT", "HN")
    gov.sign("US", key=gov.commission["HN"], kid="us-c1")
    with pytest.raises(GovernanceBadSignature, match="signature by US"):
        gov.load()


def test_a_value_changed_after_signing_is_refused(gov: Governance) -> None:
    gov.sign(*PARTIES)
    text = gov.directory.read_text().replace("Policía Nacional Civil", "Someone Else")
    gov.directory.write_text(text)
    with pytest.raises(GovernanceBadSignature, match="changed after signing"):
        gov.load()


def test_a_malformed_directory_names_line_and_field(gov: Governance) -> None:
    gov.write_directory(
        pocs=[{"id": "gt-gangs", "country": "GT", "agency": "PNC", "themes": ["x"]}]
    )
    gov.sign(*PARTIES)
    with pytest.raises(GovernanceFileError) as info:
        gov.load()
    err = info.value
    assert err.field == "pocs.0.themes.0"
    assert err.line == load_document(gov.directory).line_of(("pocs", 0, "themes", 0))
    assert str(err).startswith(f"governance_invalid: {gov.directory}:{err.line}:")


def test_an_older_version_than_accepted_is_stale(gov: Governance) -> None:
    gov.write_directory(version=3)
    gov.sign(*PARTIES)
    with pytest.raises(GovernanceStaleVersion) as info:
        gov.load(min_version=4)
    line = load_document(gov.directory).line_of(("version",))
    assert f"{gov.directory}:{line}: directory version 3" in info.value.description
    assert gov.load(min_version=3).version == 3


def test_an_expired_commission_key_does_not_count(gov: Governance) -> None:
    data = load_document(gov.trust_root).data
    data["commission_keys"][0]["not_after"] = rfc3339(NOW - timedelta(days=1))
    dump_yaml(data, gov.trust_root)
    gov.sign(*PARTIES)
    with pytest.raises(GovernanceBadSignature, match="expired"):
        gov.load()


def test_signature_status_shows_who_signed_and_who_is_missing(gov: Governance) -> None:
    gov.sign("US")
    gov.sign("GT", key=Ed25519PrivateKey.generate())
    status = signature_status(load_document(gov.directory), load_trust_root(gov.trust_root), NOW)
    assert status.signed == {"US": "us-c1"}
    assert status.missing == ("GT", "HN")
    assert [i[0] for i in status.invalid] == ["GT"]
    assert not status.complete


def test_accept_directory_remembers_the_version_and_refuses_going_back(gov: Governance) -> None:
    gov.write_directory(version=2)
    gov.sign(*PARTIES)
    assert accept_directory(gov, at=NOW).version == 2
    assert read_accepted_version(gov.state_dir) == 2
    gov.write_directory(version=1)
    gov.sign(*PARTIES)
    with pytest.raises(GovernanceStaleVersion):
        accept_directory(gov, at=NOW)
    assert read_accepted_version(gov.state_dir) == 2


def test_a_corrupt_state_file_is_refused(gov: Governance) -> None:
    gov.state_dir.mkdir()
    (gov.state_dir / "directory.version").write_text("two\n")
    with pytest.raises(GovernanceFileError, match="positive integer"):
        read_accepted_version(gov.state_dir)


def test_the_trust_root_is_not_signed(gov: Governance) -> None:
    data = load_document(gov.trust_root).data
    data["signatures"] = []
    dump_yaml(data, gov.trust_root)
    with pytest.raises(GovernanceFileError, match="local anchor"):
        load_trust_root(gov.trust_root)


def test_a_trust_root_key_listed_twice_is_refused(gov: Governance) -> None:
    data = load_document(gov.trust_root).data
    data["commission_keys"].append(dict(data["commission_keys"][0]))
    dump_yaml(data, gov.trust_root)
    with pytest.raises(GovernanceFileError, match="listed twice"):
        load_trust_root(gov.trust_root)


def test_lookup_only_yields_keys_valid_at_the_time(gov: Governance) -> None:
    trust_root = load_trust_root(gov.trust_root)
    assert trust_root.parties == PARTIES
    assert trust_root.lookup(NOW)("GT", "gt-c1") is not None
    assert trust_root.lookup(T0 - timedelta(days=1))("GT", "gt-c1") is None
    assert trust_root.key_for("GT", "hn-c1") is None


def test_govdoc_helper_signs_what_it_validates(gov: Governance) -> None:
    # The signed bytes exclude the signatures, so signing in turn keeps earlier signatures.
    gov.sign("GT")
    before = GovDoc(gov.directory, load_document(gov.directory).data).signing_bytes()
    gov.sign("HN")
    assert load_document(gov.directory).signing_bytes() == before


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(position=st.integers(min_value=0), junk=st.binary(min_size=1, max_size=8))
def test_a_damaged_directory_is_refused_with_a_governance_error(
    gov: Governance, position: int, junk: bytes
) -> None:
    # Whatever bytes land in the file, loading ends in a typed governance error or a
    # directory every party signed: never a crash, never an unchecked document.
    gov.sign(*PARTIES)
    original = gov.directory.read_bytes()
    at = position % len(original)
    gov.directory.write_bytes(original[:at] + junk + original[at + len(junk) :])
    try:
        directory = gov.load()
    except GovernanceError:
        return
    finally:
        gov.directory.write_bytes(original)
    assert directory.version == 1

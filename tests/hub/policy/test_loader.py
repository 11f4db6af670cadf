"""Loading the agreements folder: consensus signatures, in-force windows, file errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hub.policy.loader import load_agreements, set_changes
from hub.policy.signing import sign_agreement_file
from schemas.common import PARTIES
from schemas.errors import GovernanceFileError
from schemas.govdoc import dump_yaml, load_document
from tests.factories import EPOCH, TestDirectory, later, make_directory
from tests.hub.policy.helpers import agreement

COMMISSION = {cc: Ed25519PrivateKey.generate() for cc in (*PARTIES, "MX")}


def kid(cc: str) -> str:
    return f"{cc.lower()}-commission-k1"


def key_for(signer: str, kid_: str) -> Ed25519PublicKey | None:
    key = COMMISSION.get(signer)
    return key.public_key() if key is not None and kid_ == kid(signer) else None


@pytest.fixture(scope="module")
def td() -> TestDirectory:
    return make_directory()


def write(folder: Path, name: str, parties: tuple[str, ...] = ("GT", "HN", "US")) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.yaml"
    data = agreement(name, ["gangs"], ["gang_movement"], [{"from": "all", "to": "all"}], parties)
    dump_yaml(data, path)
    return path


def sign(path: Path, *parties: str) -> None:
    for cc in parties:
        sign_agreement_file(path, cc, kid(cc), COMMISSION[cc])


def test_signed_by_every_party_is_in_force_in_its_window(tmp_path: Path, td: TestDirectory) -> None:
    sign(write(tmp_path, "gangs"), "GT", "HN", "US")
    (status,) = load_agreements(tmp_path, td.directory, key_for, EPOCH).statuses
    assert status.signed and status.signed_by == ("GT", "HN", "US")
    assert status.in_force_at(later(1))[0]
    assert status.in_force_at(EPOCH)[0]  # valid_from is inclusive
    assert status.in_force_at(later(365))[1] == "expired"  # valid_until is exclusive
    assert status.in_force_at(later(-1))[1] == "not_yet_valid"


def test_a_missing_signature_keeps_it_out_of_force(tmp_path: Path, td: TestDirectory) -> None:
    sign(write(tmp_path, "gangs"), "GT", "US")
    (status,) = load_agreements(tmp_path, td.directory, key_for).statuses
    in_force, code, detail = status.in_force_at(later(1))
    assert (in_force, code, status.missing) == (False, "not_signed", ("HN",))
    assert "HN" in detail


def test_a_change_after_signing_makes_every_signature_stale(
    tmp_path: Path, td: TestDirectory
) -> None:
    path = write(tmp_path, "gangs")
    sign(path, "GT", "HN", "US")
    doc = load_document(path)
    dump_yaml({**doc.data, "max_tlp": "red"}, path)
    (status,) = load_agreements(tmp_path, td.directory, key_for).statuses
    assert status.missing == ("GT", "HN", "US")
    assert "changed after signing" in status.in_force_at(later(1))[2]


def test_a_signature_with_another_partys_key_does_not_count(
    tmp_path: Path, td: TestDirectory
) -> None:
    path = write(tmp_path, "gangs")
    sign(path, "GT", "HN")
    sign_agreement_file(path, "US", kid("HN"), COMMISSION["HN"])  # HN's key, signed as US
    (status,) = load_agreements(tmp_path, td.directory, key_for).statuses
    assert status.missing == ("US",)
    assert status.bad and "not in the trust root" in status.bad[0][1]


def test_a_non_party_cannot_sign(tmp_path: Path) -> None:
    path = write(tmp_path, "gangs")
    with pytest.raises(GovernanceFileError, match="not a party"):
        sign(path, "CR")


def test_no_folder_is_no_agreement(tmp_path: Path, td: TestDirectory) -> None:
    assert len(load_agreements(tmp_path / "none", td.directory, key_for)) == 0


BAD = [
    ("max_tlp: purple\n", "max_tlp"),
    ("flows:\n- from: all\n  to: FR\n", "flows.0.to.0"),
    ("flows:\n- from: requester\n  to: all\n", "flows.0.from.0"),
    ("flows:\n- from: all\n  to: all\n  view: anonymous\n", "flows.0.view"),
    ("flows:\n- from: all\n  to: all\n  types: [seizure]\n", "flows.0.types.0"),
    ("views:\n  anon:\n    drop: [sender.poc]\nflows:\n- {from: all, to: all, view: anon}\n",
     "views.anon.drop"),
    ("valid_until: 2025-01-01T00:00:00Z\n", "valid_until"),
    ("parties: [GT, GT]\n", "parties"),
    ("colour: blue\n", "colour"),
]  # fmt: skip


@pytest.mark.parametrize(("override", "field"), BAD)
def test_a_malformed_file_names_file_line_and_field(
    tmp_path: Path, td: TestDirectory, override: str, field: str
) -> None:
    base = (
        "id: gangs\ntitle: Gangs\nparties: [GT, HN]\nthemes: [gangs]\ntypes: [gang_movement]\n"
        "max_tlp: amber\nvalid_from: 2026-01-01T00:00:00Z\nvalid_until: 2027-01-01T00:00:00Z\n"
        "flows:\n- from: all\n  to: all\n"
    )
    keys = {line.split(":")[0] for line in override.splitlines() if not line.startswith(("-", " "))}
    kept = []
    skipping = False
    for line in base.splitlines():
        if not line.startswith(("-", " ")):
            skipping = line.split(":")[0] in keys
        if not skipping:
            kept.append(line)
    text = "\n".join(kept) + "\n" + override
    tmp_path.joinpath("gangs.yaml").write_text(text)
    with pytest.raises(GovernanceFileError) as info:
        load_agreements(tmp_path, td.directory, key_for)
    err = info.value
    assert err.path.name == "gangs.yaml"
    assert err.field is not None and err.field.startswith(field)
    expected_line = next(
        i for i, line in enumerate(text.splitlines(), 1) if line.startswith(field.split(".")[0])
    )
    assert err.line is not None and err.line >= expected_line


def test_a_reused_id_refuses_the_set(tmp_path: Path, td: TestDirectory) -> None:
    write(tmp_path, "gangs")
    data = load_document(tmp_path / "gangs.yaml").data
    dump_yaml(data, tmp_path / "gangs-copy.yaml")
    with pytest.raises(GovernanceFileError, match="already used") as info:
        load_agreements(tmp_path, td.directory, key_for)
    assert info.value.field == "id"


def test_a_party_missing_from_the_directory_refuses_the_set(
    tmp_path: Path, td: TestDirectory
) -> None:
    write(tmp_path, "gangs", ("GT", "MX"))
    with pytest.raises(GovernanceFileError, match="MX is not a party in the directory"):
        load_agreements(tmp_path, td.directory, key_for)


def test_extra_signatures_by_non_parties_are_ignored(tmp_path: Path, td: TestDirectory) -> None:
    path = write(tmp_path, "gangs", ("GT", "HN"))
    sign(path, "GT", "HN")
    doc = load_document(path)
    data = doc.with_signature("US", kid("US"), COMMISSION["US"])
    dump_yaml(data, path)
    (status,) = load_agreements(tmp_path, td.directory, key_for).statuses
    assert status.signed and status.extra == ("US",)


def test_set_changes_name_what_a_reload_changes(tmp_path: Path, td: TestDirectory) -> None:
    path = write(tmp_path, "gangs")
    sign(path, "GT", "HN")
    before = load_agreements(tmp_path, td.directory, key_for)
    sign(path, "US")
    write(tmp_path, "other")
    after = load_agreements(tmp_path, td.directory, key_for)
    changes = {c["agreement"]: c["change"] for c in set_changes(before, after)}
    assert changes == {"gangs": "signatures", "other": "added"}
    (tmp_path / "other.yaml").unlink()
    doc = load_document(path)
    dump_yaml({**doc.data, "title": "Gangs v2"}, path)
    again = load_agreements(tmp_path, td.directory, key_for)
    changes = {c["agreement"]: c["change"] for c in set_changes(after, again)}
    assert changes == {"gangs": "changed", "other": "removed"}
    assert all(c["digest"].startswith("sha256:") for c in set_changes(after, again))

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, ConfigDict

from schemas.errors import GovernanceBadSignature, GovernanceFileError, GovernanceUnsigned
from schemas.govdoc import dump_yaml, load_document, parse_document


class Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int
    items: list[dict[str, int]]


TEXT = """\
version: 3
items:
  - a: 1
  - a: two
"""


def test_validation_error_names_file_line_and_field() -> None:
    doc = parse_document(TEXT, "gov.yaml")
    with pytest.raises(GovernanceFileError) as info:
        doc.validate(Doc)
    err = info.value
    assert (err.line, err.field) == (4, "items.1.a")
    assert str(err).startswith("governance_invalid: gov.yaml:4: field 'items.1.a':")


def test_bad_yaml_names_the_line() -> None:
    with pytest.raises(GovernanceFileError) as info:
        parse_document("version: 1\nitems: [1,\n  : :\n", "x.yaml")
    assert info.value.line is not None
    assert "not valid YAML" in info.value.problem


def test_duplicate_keys_are_refused() -> None:
    with pytest.raises(GovernanceFileError):
        parse_document("version: 1\nversion: 2\n", "dup.yaml")


@pytest.mark.parametrize("text", ["? [a, b]\n: 1\n", "? {a: 1}\n: 1\n", "a: " + "[" * 2000])
def test_yaml_that_cannot_be_built_is_a_governance_error(text: str) -> None:
    with pytest.raises(GovernanceFileError):
        parse_document(text, "odd.yaml")


def test_a_list_is_not_a_document() -> None:
    with pytest.raises(GovernanceFileError, match="mapping"):
        parse_document("- 1\n", "list.yaml")


def test_missing_file() -> None:
    with pytest.raises(GovernanceFileError, match="not found"):
        load_document("/nonexistent/enlace.yaml")


def test_sign_verify_and_tamper(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    keys = {("GT", "gt-c1"): key.public_key()}
    path = tmp_path / "doc.yaml"
    path.write_text(TEXT.replace("two", "2"))
    doc = load_document(path)
    with pytest.raises(GovernanceUnsigned):
        doc.verify_signatures(lambda s, k: keys.get((s, k)))
    dump_yaml(doc.with_signature("GT", "gt-c1", key), path)
    signed = load_document(path)
    assert set(signed.verify_signatures(lambda s, k: keys.get((s, k)))) == {"GT"}
    # re-formatting keeps the signature valid; changing a value breaks it
    path.write_text(path.read_text().replace("version: 3", "version:    3"))
    load_document(path).verify_signatures(lambda s, k: keys.get((s, k)))
    path.write_text(path.read_text().replace("a: 2", "a: 5"))
    with pytest.raises(GovernanceBadSignature, match="changed after signing"):
        load_document(path).verify_signatures(lambda s, k: keys.get((s, k)))


def test_signature_by_a_key_the_root_does_not_hold(tmp_path: Path) -> None:
    path = tmp_path / "doc.yaml"
    path.write_text(TEXT)
    data = load_document(path).with_signature("GT", "gt-c9", Ed25519PrivateKey.generate())
    dump_yaml(data, path)
    with pytest.raises(GovernanceBadSignature, match="trust root does not hold"):
        load_document(path).verify_signatures(lambda s, k: None)

from __future__ import annotations

import pytest

from schemas.countersign import countersign_view, sha256_digest, verify_countersignature
from schemas.errors import BadSignature, SenderMismatch
from schemas.subjects import delivery_subject, ingress_subject, parse_ingress_subject
from tests.factories import make_directory


def test_subjects_are_country_first() -> None:
    assert ingress_subject("GT", "gangs", "gang_movement") == "enlace.in.GT.gangs.gang_movement"
    assert delivery_subject("US", "gangs", "seizure") == "enlace.out.US.gangs.seizure"
    parsed = parse_ingress_subject("enlace.in.GT.gangs.gang_movement")
    assert parsed is not None
    assert (parsed.country, parsed.theme, parsed.type) == ("GT", "gangs", "gang_movement")


@pytest.mark.parametrize(
    "subject", ["enlace.in.gt.gangs.x", "enlace.out.GT.gangs.x", "enlace.in.GT.gangs", "x"]
)
def test_bad_subjects_do_not_parse(subject: str) -> None:
    assert parse_ingress_subject(subject) is None


def test_wildcards_cannot_be_smuggled_into_subjects() -> None:
    with pytest.raises(ValueError):
        ingress_subject("GT", "gangs", "*")
    with pytest.raises(ValueError):
        delivery_subject("G>", "gangs", "x")


def test_countersignature_binds_view_to_original_and_recipient() -> None:
    td = make_directory(parties=("GT", "US"), themes=("gangs",))
    original = sha256_digest(b"original")
    jws = countersign_view("M1", original, "US", "redacted", b"view", td.keys["hub-k1"], "hub-k1")
    verify_countersignature(td.directory, jws, "M1", original, "US", "redacted", b"view")
    with pytest.raises(BadSignature):
        verify_countersignature(td.directory, jws, "M1", original, "HN", "redacted", b"view")
    with pytest.raises(BadSignature):
        verify_countersignature(td.directory, jws, "M1", original, "US", "redacted", b"view2")
    forged = countersign_view(
        "M1", original, "US", "redacted", b"view", td.keys["gt-gangs-k1"], "gt-gangs-k1"
    )
    with pytest.raises(SenderMismatch):
        verify_countersignature(td.directory, forged, "M1", original, "US", "redacted", b"view")

"""Reading and verifying deliveries: what is refused, with which reason code."""

from __future__ import annotations

import json
from contextlib import suppress
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.delivery import Delivery, parse_delivery, verify_delivery
from adapters.errors import MalformedDelivery, TamperedDelivery
from schemas.countersign import countersign_view, sha256_digest
from schemas.subjects import (
    HDR_COUNTERSIGNATURE,
    HDR_MSG_ID,
    HDR_ORIGINAL_DIGEST,
    HDR_RECIPIENT,
    HDR_SIGNATURE,
    HDR_VIEW,
)
from tests.factories import TestDirectory, make_directory

SUBJECT = "enlace.out.GT.gangs.gang_movement"


@pytest.fixture(scope="module")
def td() -> TestDirectory:
    return make_directory(parties=("GT", "SV"), themes=("gangs",))


def full(td: TestDirectory) -> tuple[bytes, dict[str, str]]:
    message = td.envelope("SV", "gangs", "gang_movement", {"note": "n"})
    raw, jws = td.sign(message)
    headers = {
        HDR_MSG_ID: f"{message['id']}:GT",
        HDR_VIEW: "full",
        HDR_RECIPIENT: "GT",
        HDR_ORIGINAL_DIGEST: sha256_digest(raw),
        HDR_SIGNATURE: jws,
    }
    return raw, headers


def redacted(td: TestDirectory, kid: str | None = None) -> tuple[bytes, dict[str, str]]:
    raw, headers = full(td)
    view = json.loads(raw) | {"payload": {}}
    body = json.dumps(view).encode()
    kid = kid or td.hub_kid
    headers[HDR_VIEW] = "minimal"
    headers[HDR_COUNTERSIGNATURE] = countersign_view(
        view["id"], headers[HDR_ORIGINAL_DIGEST], "GT", "minimal", body, td.keys[kid], kid
    )
    return body, headers


def verified(td: TestDirectory, body: bytes, headers: dict[str, str]) -> Delivery:
    delivery = parse_delivery(SUBJECT, headers, body, "GT")
    verify_delivery(delivery, td.directory)
    return delivery


def test_full_and_redacted_views_verify(td: TestDirectory) -> None:
    assert verified(td, *full(td)).is_full
    delivery = verified(td, *redacted(td))
    assert (delivery.view, delivery.theme, delivery.type) == ("minimal", "gangs", "gang_movement")


def reason(td: TestDirectory, body: bytes, headers: dict[str, str]) -> str:
    with pytest.raises(TamperedDelivery) as info:
        verified(td, body, headers)
    return info.value.reason


def test_changed_body_is_refused(td: TestDirectory) -> None:
    body, headers = full(td)
    changed = body.replace(b'"n"', b'"N"')
    assert reason(td, changed, headers) == "digest_mismatch"
    headers[HDR_ORIGINAL_DIGEST] = sha256_digest(changed)
    assert reason(td, changed, headers) == "bad_signature"


def test_view_countersigned_by_a_poc_is_refused(td: TestDirectory) -> None:
    assert reason(td, *redacted(td, kid=td.poc_kid("SV", "gangs"))) == "sender_mismatch"


def test_changed_view_is_refused(td: TestDirectory) -> None:
    body, headers = redacted(td)
    assert reason(td, body.replace(b"{}", b'{"a": 1}'), headers) == "bad_signature"


def test_signature_by_a_key_not_in_the_directory_is_refused(td: TestDirectory) -> None:
    impostor = make_directory(parties=("GT", "SV"), themes=("gangs",))  # same kids, new keys
    assert reason(td, *full(impostor)) == "bad_signature"


@pytest.mark.parametrize(
    ("subject", "change", "words"),
    [
        ("enlace.out.SV.gangs.gang_movement", {}, "for SV, not GT"),
        ("enlace.in.GT.gangs.gang_movement", {}, "is not enlace.out"),
        (SUBJECT, {HDR_RECIPIENT: "SV"}, "names recipient SV"),
        (SUBJECT, {HDR_MSG_ID: "other:GT"}, "does not match"),
        (SUBJECT, {HDR_SIGNATURE: ""}, "lacks header(s) Enlace-Signature"),
        (SUBJECT, {HDR_VIEW: "minimal"}, "has no Enlace-Countersignature"),
    ],
)
def test_malformed_deliveries_are_named(
    td: TestDirectory, subject: str, change: dict[str, str], words: str
) -> None:
    body, headers = full(td)
    with pytest.raises(MalformedDelivery, match=words.replace("(", r"\(").replace(")", r"\)")):
        parse_delivery(subject, headers | change, body, "GT")


def test_delivery_errors_carry_the_subject_and_the_message_id(td: TestDirectory) -> None:
    body, headers = full(td)
    message_id = json.loads(body)["id"]
    with pytest.raises(MalformedDelivery) as info:
        parse_delivery(SUBJECT, headers | {HDR_SIGNATURE: ""}, body, "GT")
    assert (info.value.subject, info.value.message_id) == (SUBJECT, message_id)
    with pytest.raises(MalformedDelivery) as unread:
        parse_delivery(SUBJECT, headers, b"not json", "GT")
    assert (unread.value.subject, unread.value.message_id) == (SUBJECT, None)


@settings(max_examples=200, deadline=None)
@given(
    body=st.binary(max_size=300) | st.text(max_size=200).map(str.encode),
    headers=st.dictionaries(
        st.sampled_from([HDR_SIGNATURE, HDR_VIEW, HDR_ORIGINAL_DIGEST, HDR_MSG_ID, "X"]),
        st.text(max_size=40),
    ),
)
def test_hostile_deliveries_raise_only_delivery_errors(
    td: TestDirectory, body: bytes, headers: dict[str, Any]
) -> None:
    with suppress(MalformedDelivery, TamperedDelivery):  # anything else fails the test
        verified(td, body, headers)

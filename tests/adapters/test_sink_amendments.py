"""adapters.sinks._amendments: a delivery's amendment, and headers that contradict the body."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.delivery import Delivery, parse_delivery
from adapters.errors import PermanentSinkError
from adapters.sinks._amendments import amendment_of
from schemas.amendments import HDR_AMENDMENT, HDR_AMENDS, HDR_ORIGINAL_ID, HDR_VERSION
from schemas.countersign import sha256_digest
from schemas.subjects import HDR_ORIGINAL_DIGEST, HDR_SIGNATURE, HDR_VIEW

A = "01JD5Z8Q4M7X2V9K3N6P0R1S2T"
B = "01JD5Z8Q4M7X2V9K3N6P0R1S2V"


def delivery(message: dict[str, Any], type_: str = "gang_movement", **extra: str) -> Delivery:
    body = json.dumps({"id": "01JD0000000000000000000000", "type": type_, **message}).encode()
    headers = {
        HDR_SIGNATURE: "e30..c2ln",
        HDR_VIEW: "full",
        HDR_ORIGINAL_DIGEST: sha256_digest(body),
    }
    return parse_delivery(f"enlace.out.SV.gangs.{type_}", {**headers, **extra}, body, "SV")


def test_a_plain_delivery_amends_nothing() -> None:
    assert amendment_of(delivery({"payload": {}})) is None


def test_a_correction_as_the_hub_marks_it() -> None:
    marks = {HDR_AMENDMENT: "correction", HDR_AMENDS: A, HDR_ORIGINAL_ID: B, HDR_VERSION: "3"}
    found = amendment_of(delivery({"corrects": A, "payload": {}}, **marks))
    assert found is not None
    assert (found.kind, found.amends, found.original, found.version) == ("correction", A, B, 3)
    assert found.headers() == marks


def test_a_retraction_without_the_hubs_headers_is_read_from_its_body() -> None:
    found = amendment_of(delivery({"payload": {"original_id": A}}, "retraction"))
    assert found is not None
    assert (found.kind, found.amends, found.original, found.version) == ("retraction", A, A, None)


@pytest.mark.parametrize(
    ("body", "marks"),
    [
        ({"corrects": A}, {HDR_AMENDMENT: "correction", HDR_AMENDS: B}),  # another message
        ({"corrects": A}, {HDR_AMENDMENT: "retraction", HDR_AMENDS: A}),  # another kind
        ({}, {HDR_AMENDMENT: "correction", HDR_AMENDS: A}),  # the body amends nothing
    ],
)
def test_headers_that_contradict_the_signed_body_are_refused(
    body: dict[str, Any], marks: dict[str, str]
) -> None:
    with pytest.raises(PermanentSinkError) as refused:
        amendment_of(delivery({**body, "payload": {}}, **marks))
    assert refused.value.reason == "amendment_mismatch"


@given(st.text(max_size=20) | st.sampled_from(["²", "7", "٣"]))
def test_any_version_header_is_read_as_a_number_or_none(version: str) -> None:
    marks = {HDR_AMENDMENT: "correction", HDR_AMENDS: A, HDR_VERSION: version}
    found = amendment_of(delivery({"corrects": A, "payload": {}}, **marks))
    assert found is not None
    assert found.version == (int(version) if version.isascii() and version.isdecimal() else None)

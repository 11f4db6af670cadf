from __future__ import annotations

import json
from typing import Any

import pytest

from schemas.envelope import parse_envelope
from schemas.errors import InvalidEnvelope, MalformedJson, MessageTooLarge

VALID: dict[str, Any] = {
    "id": "01JDQ7Z8Y6R3M4N5P6Q7R8S9T0",
    "type": "seizure",
    "version": 1,
    "theme": "narcotics",
    "sender": {"country": "GT", "agency": "PNC", "poc": "gt-narcotics"},
    "issued_at": "2026-11-25T10:00:00Z",
    "handling": "amber+strict",
    "evaluation": {"reliability": "B", "credibility": 2},
    "to": ["US", "HN"],
    "payload": {},
}


def raw(**changes: Any) -> bytes:
    return json.dumps({**VALID, **changes}).encode()


def test_valid_envelope() -> None:
    env = parse_envelope(raw())
    assert env.sender.country == "GT"
    assert env.handling == "amber+strict"


def test_uuid7_is_an_accepted_id() -> None:
    assert parse_envelope(raw(id="01936f2e-5b7c-7abc-8def-0123456789ab")).id.startswith("0193")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"id": "not-an-id"}, "id"),
        ({"id": "01936f2e-5b7c-4abc-8def-0123456789ab"}, "id"),  # UUIDv4 is not v7
        ({"theme": "piracy"}, "theme"),
        ({"handling": "black"}, "handling"),
        ({"issued_at": "2026-11-25T10:00:00"}, "issued_at"),
        ({"issued_at": "2026-11-25T10:00:00-06:00"}, "issued_at"),
        ({"sender": {"country": "XX", "agency": "a", "poc": "p"}}, "sender.country"),
        ({"evaluation": {"reliability": "G", "credibility": 2}}, "evaluation.reliability"),
        ({"evaluation": {"reliability": "A", "credibility": 7}}, "evaluation.credibility"),
        ({"to": []}, "to"),
        ({"extra": 1}, "extra"),
    ],
)
def test_bad_envelopes_name_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidEnvelope) as info:
        parse_envelope(raw(**changes))
    assert info.value.field == field
    assert info.value.code == "invalid_envelope"


@pytest.mark.parametrize("data", [b"\xff\xfe", b"{", b'{"a": NaN}', b""])
def test_not_json(data: bytes) -> None:
    with pytest.raises(MalformedJson):
        parse_envelope(data)


def test_not_an_object() -> None:
    with pytest.raises(InvalidEnvelope, match="one JSON object"):
        parse_envelope(b"[1]")


def test_size_limit() -> None:
    with pytest.raises(MessageTooLarge) as info:
        parse_envelope(raw(), max_bytes=10)
    assert info.value.limit == 10

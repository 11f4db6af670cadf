from __future__ import annotations

import json
from datetime import UTC
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.envelope import load_json, parse_envelope
from schemas.errors import DuplicateKey, InvalidEnvelope, MalformedJson, MessageTooLarge
from schemas.registry import REGISTRY

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


@pytest.mark.parametrize(
    "issued_at",
    ["2026-11-25T10:00:00Z", "2026-11-25T10:00:00.123456Z", "2026-11-25T10:00:00+00:00"],
)
def test_rfc3339_utc_forms_are_accepted(issued_at: str) -> None:
    assert parse_envelope(raw(issued_at=issued_at)).issued_at.tzinfo is UTC


def test_a_number_in_a_date_time_field_says_how_to_write_it() -> None:
    with pytest.raises(InvalidEnvelope, match="write it like 2026-11-25T10:00:00Z"):
        parse_envelope(raw(issued_at=1764064800))


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
        # No coercion: what the exported JSON Schema refuses, the envelope refuses.
        ({"version": "1"}, "version"),
        ({"version": True}, "version"),
        ({"version": 1.0}, "version"),
        ({"issued_at": 1764064800}, "issued_at"),
        ({"issued_at": 1764064800.5}, "issued_at"),
        ({"issued_at": "1764064800"}, "issued_at"),
        ({"issued_at": "2026-11-25 10:00:00Z"}, "issued_at"),
        ({"issued_at": "2026-11-25T10:00Z"}, "issued_at"),
        ({"issued_at": "2026-11-25t10:00:00z"}, "issued_at"),
        ({"issued_at": "2026-11-25"}, "issued_at"),
        ({"issued_at": "2026-11-25T10:00:00+0000"}, "issued_at"),
        ({"issued_at": "٢٠٢٦-11-25T10:00:00Z"}, "issued_at"),
        ({"evaluation": {"reliability": "A", "credibility": "3"}}, "evaluation.credibility"),
        ({"evaluation": {"reliability": "A", "credibility": True}}, "evaluation.credibility"),
        ({"evaluation": {"reliability": "A", "credibility": 3.0}}, "evaluation.credibility"),
        ({"handling": 1}, "handling"),
        ({"to": "US"}, "to"),
        ({"sender": {"country": "GT", "agency": 7, "poc": "p"}}, "sender.agency"),
    ],
)
def test_bad_envelopes_name_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidEnvelope) as info:
        parse_envelope(raw(**changes))
    assert info.value.field == field
    assert info.value.code == "invalid_envelope"


@pytest.mark.parametrize(
    "data", [b"\xff\xfe", b"{", b'{"a": NaN}', b"", b'{"a": 1e999}', b'{"a": -1.5e400}']
)
def test_not_json(data: bytes) -> None:
    with pytest.raises(MalformedJson):
        parse_envelope(data)


def test_a_number_beyond_a_float_is_named() -> None:
    with pytest.raises(MalformedJson, match="1e999 is beyond a 64-bit float's range"):
        parse_envelope(b'{"id": "x", "lat": 1e999}')
    assert load_json(b'{"lat": 14.6349, "big": 1e308}') == {"lat": 14.6349, "big": 1e308}


def test_not_an_object() -> None:
    with pytest.raises(InvalidEnvelope, match="one JSON object"):
        parse_envelope(b"[1]")


def test_size_limit() -> None:
    with pytest.raises(MessageTooLarge) as info:
        parse_envelope(raw(), max_bytes=10)
    assert info.value.limit == 10


# -- a key given twice ----------------------------------------------------------------------


def dumps_repeating(node: Any, path: tuple[str | int, ...], extra: Any, first: bool) -> str:
    """JSON text of ``node`` where the object key at ``path`` appears twice.

    The copy carries ``extra``; ``first`` puts it before the original, else after.
    """
    if isinstance(node, list):
        items = [
            dumps_repeating(v, path[1:], extra, first) if path and path[0] == i else json.dumps(v)
            for i, v in enumerate(node)
        ]
        return "[" + ",".join(items) + "]"
    members = []
    for key, value in node.items():
        if path and path[0] == key and len(path) > 1:
            members.append(f"{json.dumps(key)}:{dumps_repeating(value, path[1:], extra, first)}")
            continue
        members.append(f"{json.dumps(key)}:{json.dumps(value)}")
        if path == (key,):
            copy = f"{json.dumps(key)}:{json.dumps(extra)}"
            members.insert(len(members) - 1 if first else len(members), copy)
    return "{" + ",".join(members) + "}"


def key_paths(node: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Every object key's path in ``node``, at any depth."""
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in [(*prefix, k), *key_paths(v, (*prefix, k))]]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in key_paths(v, (*prefix, i))]
    return []


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ('{"handling": "red", "handling": "green"}', "handling"),
        ('{"to": ["US"], "to": ["US", "HN", "SV"]}', "to"),
        ('{"a": {"b": [{"c": 1}, {"c": 1, "c": 2}]}}', "a.b.1.c"),
        ('{"a": {"x": 1, "x": 1}, "a": 2}', "a"),  # the outer repeat, where it starts
        ('{"bad\\nkey": 1, "bad\\nkey": 2}', '"bad\\nkey"'),
    ],
)
def test_a_key_given_twice_is_refused_naming_its_path(text: str, path: str) -> None:
    with pytest.raises(DuplicateKey) as info:
        parse_envelope(text.encode())
    assert info.value.code == "duplicate_key"
    assert info.value.path == path
    assert f"key {path} appears twice" in info.value.description


def test_a_long_repeated_key_is_shortened_in_the_sentence() -> None:
    key = "k" * 5000
    with pytest.raises(DuplicateKey) as info:
        parse_envelope(f'{{"payload": {{}}, "{key}": 1, "{key}": 2}}'.encode())
    assert len(info.value.description) < 200
    assert info.value.path.startswith("k" * 60)


def test_the_same_key_in_different_objects_is_fine() -> None:
    message = {**VALID, "payload": {"id": 1, "inner": {"id": 2}, "list": [{"id": 3}, {"id": 4}]}}
    assert parse_envelope(json.dumps(message).encode()).payload["inner"] == {"id": 2}


@settings(max_examples=200, deadline=None)
@given(data=st.data(), first=st.booleans(), extra=st.sampled_from(["x", 1, None, [], {}]))
def test_any_key_repeated_at_any_depth_is_refused(
    data: st.DataObject, first: bool, extra: Any
) -> None:
    message = {**VALID, "payload": REGISTRY.template("seizure")}
    path = data.draw(st.sampled_from(key_paths(message)))
    text = dumps_repeating(message, path, extra, first)
    with pytest.raises(DuplicateKey) as info:
        parse_envelope(text.encode())
    assert info.value.path == ".".join(str(p) for p in path)

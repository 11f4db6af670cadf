"""Hostile input: parse_message raises only typed Enlace errors; a mutated signature never holds."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.envelope import Sender
from schemas.errors import EnlaceError, SignatureError
from schemas.message import Message, new_message, parse_message
from schemas.registry import REGISTRY
from tests.factories import TestDirectory, make_directory

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=30,
)


def parse_or_typed_error(raw: bytes) -> Message | EnlaceError:
    """parse_message's result, or the typed error it raised; anything else fails the test."""
    try:
        return parse_message(raw)
    except EnlaceError as exc:
        assert exc.code and exc.description
        return exc


@cache
def directory() -> TestDirectory:
    return make_directory(parties=("GT", "US"))


def template(type_: str) -> dict[str, Any]:
    theme = REGISTRY.themes_for(type_, 1)[0]
    poc = f"gt-{theme.replace('_', '-')}"
    return new_message(type_, Sender(country="GT", agency="PNC", poc=poc), theme=theme)


@FUZZ
@given(value=json_values)
def test_any_json_value_gives_a_typed_error(value: Any) -> None:
    parse_or_typed_error(json.dumps(value).encode())


@FUZZ
@given(
    type_=st.sampled_from(REGISTRY.types()),
    payload=st.dictionaries(st.text(max_size=20), json_values, max_size=8),
)
def test_any_payload_of_a_known_type_gives_a_typed_error(
    type_: str, payload: dict[str, Any]
) -> None:
    message = {**template(type_), "payload": payload}
    parse_or_typed_error(json.dumps(message).encode())


def _leaf_paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _leaf_paths(v, (*prefix, k))] or [prefix]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _leaf_paths(v, (*prefix, i))] or [prefix]
    return [prefix]


@FUZZ
@given(type_=st.sampled_from(REGISTRY.types()), data=st.data(), value=json_values)
def test_any_field_replaced_gives_a_typed_error(
    type_: str, data: st.DataObject, value: Any
) -> None:
    message = template(type_)
    path = data.draw(st.sampled_from(_leaf_paths(message)))
    node: Any = message
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    parse_or_typed_error(json.dumps(message).encode())


mutations = st.lists(
    st.tuples(
        st.sampled_from(["flip", "insert", "delete"]), st.integers(min_value=0), st.integers(0, 255)
    ),
    min_size=1,
    max_size=6,
)


def mutate(raw: bytes, edits: list[tuple[str, int, int]]) -> bytes:
    data = bytearray(raw)
    for kind, where, byte in edits:
        at = where % max(len(data), 1)
        if kind == "flip" and data:
            data[at] ^= byte or 1
        elif kind == "insert":
            data.insert(at, byte)
        elif data:
            del data[at]
    return bytes(data)


@FUZZ
@given(type_=st.sampled_from(REGISTRY.types()), edits=mutations)
def test_mutated_bytes_give_a_typed_error_and_never_verify(
    type_: str, edits: list[tuple[str, int, int]]
) -> None:
    td = directory()
    raw, jws = td.sign(template(type_))
    assert isinstance(parse_or_typed_error(raw), Message)
    td.directory.verify_message(raw, jws, parse_message(raw).envelope)  # the original holds
    bad = mutate(raw, edits)
    if bad == raw:
        return
    outcome = parse_or_typed_error(bad)
    try:
        if isinstance(outcome, Message):
            td.directory.verify_message(bad, jws, outcome.envelope)
        else:
            td.directory.verify_signature(bad, jws)
    except SignatureError:
        return
    raise AssertionError("a mutated message verified")


@FUZZ
@given(raw=st.binary(max_size=300))
def test_arbitrary_bytes_give_a_typed_error(raw: bytes) -> None:
    parse_or_typed_error(raw)

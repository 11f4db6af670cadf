"""The hub's validation and the exported JSON Schema read a message the same way.

Messages are drawn by mutating valid ones of every registered type and version, at envelope
and payload level and at any depth: a value replaced by one of another JSON type (numeric
strings, numbers for strings, booleans, null, arrays, objects, floats for integers, big
integers, other date-time spellings), a field dropped, an unknown field added. An
independent validator (``jsonschema``, draft 2020-12, with format checking) runs the
exported schema; :func:`schemas.message.parse_message` is what the hub runs.

- Every message the JSON Schema refuses, the hub refuses.
- The converse holds for shapes: when the hub refuses a schema-valid message, every
  problem the models report is a ``ValueError`` of one of their own validators, the rules
  JSON Schema cannot express (ISO code lists, CAS/IMO check digits, CAP geometry,
  cross-field rules: README "Messages"). Type, range, enum, pattern and presence problems
  are pydantic's own error kinds, so a shape the schema accepts and the hub refuses fails
  here. (Chosen over restricting the mutations: drops and nulls do reach those rules.)

The one difference of reading, kept on purpose and tested on its own: JSON Schema's data
model counts ``1.0`` as an integer; the models refuse it, as a recipient decoding into an
integer type would. The validator here counts only numbers written without a fraction or
exponent (Python ``int``) as integers.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from jsonschema.validators import extend
from pydantic import BaseModel, ValidationError

from schemas.envelope import Envelope
from schemas.errors import EnlaceError
from schemas.export import example_message, message_schema
from schemas.message import parse_message
from schemas.messages.spec import MessageSpec
from schemas.registry import REGISTRY

PARITY = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SPECS = list(REGISTRY)

_FORMATS = Draft202012Validator.FORMAT_CHECKER
_TYPES = Draft202012Validator.TYPE_CHECKER.redefine(
    "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool)
)
JsonIntValidator: type[Draft202012Validator] = extend(  # type: ignore[no-untyped-call]  # stubs
    Draft202012Validator, type_checker=_TYPES
)


def validator(spec: MessageSpec, json_integers: bool = False) -> Draft202012Validator:
    """The exported schema of ``spec``; ``json_integers`` keeps JSON Schema's own integer."""
    return _validator(spec.type, spec.version, json_integers)


@cache
def _validator(type_: str, version: int, json_integers: bool) -> Draft202012Validator:
    schema = message_schema(REGISTRY.spec(type_, version))
    Draft202012Validator.check_schema(schema)
    cls = Draft202012Validator if json_integers else JsonIntValidator
    return cls(schema, format_checker=_FORMATS)


def base_message(spec: MessageSpec) -> dict[str, Any]:
    """A valid message using every envelope field."""
    message = example_message(spec)
    message["to"] = ["US", "HN"]
    message["correlation_id"] = "case-2026-118"
    return message


def hub_refusal(message: dict[str, Any]) -> EnlaceError | None:
    try:
        parse_message(json.dumps(message, ensure_ascii=False).encode())
    except EnlaceError as err:
        return err
    return None


def model_problems(spec: MessageSpec, message: dict[str, Any]) -> list[dict[str, Any]]:
    """Every problem the models report, envelope first, then the payload."""
    model: type[BaseModel] = Envelope
    data: Any = message
    try:
        Envelope.model_validate(message)
        model, data = spec.model, message["payload"]
        model.model_validate(data)
    except ValidationError as exc:
        return [dict(e) for e in exc.errors()]
    return []


# -- mutations -------------------------------------------------------------------------------

DATE_TIME_SPELLINGS = [
    "2026-11-25 10:00:00Z",
    "2026-11-25T10:00Z",
    "2026-11-25t10:00:00z",
    "2026-11-25T10:00:00+0000",
    "2026-11-25T04:00:00-06:00",
    "2026-11-25T10:00:00",
    "2026-11-25",
    "2026-02-30T10:00:00Z",
    "20261125T100000Z",
    "1764064800",
]

OTHER_VALUES: st.SearchStrategy[Any] = st.sampled_from(
    [
        None,
        True,
        False,
        0,
        1,
        3,
        -1,
        2**63,
        -(2**63),
        10**30,
        0.5,
        1.0,
        3.0,
        12.5,
        1e300,
        "",
        "1",
        "3",
        "12.5",
        "true",
        "null",
        "184350.00",
        [],
        {},
        *DATE_TIME_SPELLINGS,
    ]
)


def same_meaning_other_type(value: Any) -> list[Any]:
    """What a lax reader would coerce back to ``value``: the forms of the attacks."""
    if isinstance(value, bool):
        return [int(value), str(value).lower()]
    if isinstance(value, int):
        return [str(value), float(value), value == 1, value + 2**64]
    if isinstance(value, float):
        return [str(value), int(value)]
    if isinstance(value, str):
        forms: list[Any] = [[value], {"value": value}]
        try:
            number = float(value)
        except ValueError:
            pass
        else:
            forms += [number, int(number)] if number.is_integer() else [number]
        if value[:4].isdigit() and "T" in value:
            forms += [1764064800, 1764064800.0, "1764064800"]
        return forms
    if isinstance(value, list):
        return [value[0] if value else None, dict(enumerate(value))]
    if isinstance(value, dict):
        return [list(value.values()), list(value)]
    return []


def node_paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path of every value in ``node`` (containers too), at any depth."""
    children: list[tuple[Any, Any]] = []
    if isinstance(node, dict):
        children = list(node.items())
    elif isinstance(node, list):
        children = list(enumerate(node))
    paths: list[tuple[Any, ...]] = [prefix] if prefix else []
    for key, child in children:
        paths += node_paths(child, (*prefix, key))
    return paths


def object_paths(node: Any) -> list[tuple[Any, ...]]:
    """Paths of the objects in ``node``, the root (``()``) included."""
    return [(), *(p for p in node_paths(node) if isinstance(at(node, p), dict))]


def at(node: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        node = node[part]
    return node


@st.composite
def mutated(draw: st.DrawFn) -> tuple[MessageSpec, dict[str, Any], list[str]]:
    """A message of a drawn type with one to three mutations, and what was done."""
    spec = draw(st.sampled_from(SPECS))
    message = base_message(spec)
    done: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["other type", "same meaning", "drop", "add"]))
        if kind == "add":
            path = draw(st.sampled_from(object_paths(message)))
            # a copy: OTHER_VALUES' containers are shared, and adding into one of them
            # twice would make the message contain itself
            at(message, path)["surprise"] = copy.deepcopy(draw(OTHER_VALUES))
            done.append(f"add {path}.surprise")
            continue
        paths = node_paths(message)
        if kind == "drop":
            paths = [p for p in paths if isinstance(at(message, p[:-1]), dict)]
        path = draw(st.sampled_from(paths))
        parent, key = at(message, path[:-1]), path[-1]
        if kind == "drop":
            del parent[key]
            done.append(f"drop {path}")
            continue
        forms = same_meaning_other_type(parent[key]) if kind == "same meaning" else []
        value = draw(st.sampled_from(forms)) if forms else draw(OTHER_VALUES)
        parent[key] = copy.deepcopy(value)
        done.append(f"{path} = {value!r}")
    return spec, message, done


# -- the properties --------------------------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.type}.v{s.version}")
def test_the_unmutated_messages_are_valid_both_ways(spec: MessageSpec) -> None:
    assert "date-time" in _FORMATS.checkers, "install rfc3339-validator (dev extras)"
    message = base_message(spec)
    assert validator(spec).is_valid(message)
    assert hub_refusal(message) is None


@PARITY
@given(case=mutated())
def test_what_the_schema_refuses_the_hub_refuses(
    case: tuple[MessageSpec, dict[str, Any], list[str]],
) -> None:
    spec, message, done = case
    if validator(spec).is_valid(message):
        return
    refusal = hub_refusal(message)
    assert refusal is not None, f"the hub accepted what the JSON Schema refuses: {done}"
    assert refusal.code in ("invalid_envelope", "schema_invalid", "unknown_type"), refusal


@PARITY
@given(case=mutated())
def test_what_the_hub_refuses_in_a_schema_valid_message_is_a_model_only_rule(
    case: tuple[MessageSpec, dict[str, Any], list[str]],
) -> None:
    spec, message, done = case
    if not validator(spec).is_valid(message) or hub_refusal(message) is None:
        return
    problems = model_problems(spec, message)
    assert problems, f"the hub refused what its models accept: {done}"
    shapes = [p for p in problems if p["type"] != "value_error"]
    assert not shapes, f"the hub refused a shape the JSON Schema accepts: {done}: {shapes}"


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("envelope", 'version": 1.0'),
        ("envelope", 'credibility": 2.0'),
        ("payload", 'rounds": 240.0'),
        ("payload", 'rounds": 2.4e2'),
    ],
)
def test_an_integer_written_with_a_fraction_is_refused_where_json_schema_would_take_it(
    where: str, value: str
) -> None:
    spec = REGISTRY.spec("seizure", 1)
    key, _, number = value.partition('": ')
    text = json.dumps(base_message(spec))
    original = {"version": "1", "credibility": "2", "rounds": "240"}[key]
    text = text.replace(f'"{key}": {original}', f'"{key}": {number}', 1)
    message = json.loads(text)
    assert validator(spec, json_integers=True).is_valid(message)  # JSON Schema's data model
    assert not validator(spec).is_valid(message)  # this file's reading of integers
    refusal = hub_refusal(message)
    assert refusal is not None
    assert refusal.code == ("invalid_envelope" if where == "envelope" else "schema_invalid")

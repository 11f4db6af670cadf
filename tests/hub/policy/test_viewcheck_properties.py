"""Property: a view the loader allows never turns a valid message into an invalid one.

Messages are drawn independently of the checker's own samples: each type's example,
mutated step by step with values drawn from its JSON Schema (fields removed, replaced,
added, list items copied), every step kept only when the message stays valid. Views are
drawn from the type's field paths and wildcard forms of them. For every view
:func:`view_problems` allows, the rendered view of every such message must validate as a
recipient validates it (:func:`parse_message`).
"""

from __future__ import annotations

import copy
import json
from datetime import UTC
from typing import Any

from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from hub.policy.model import Agreement, RoundRule, ViewSpec
from hub.policy.redaction import render_view
from hub.policy.views.check import view_problems
from hub.policy.views.schema import TypeSchema, type_schema
from schemas.export import example_message
from schemas.message import parse_message
from schemas.registry import REGISTRY
from tests.hub.policy.helpers import agreement

Loc = tuple[str | int, ...]
TYPES = REGISTRY.types()


def _values(ts: TypeSchema, schema: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Any JSON value of ``schema`` (shapes only: the model may still refuse it)."""
    options = [_value(ts, v, depth) for v in ts.variants(schema)]
    return st.one_of(options) if options else st.nothing()


def _value(ts: TypeSchema, v: dict[str, Any], depth: int) -> st.SearchStrategy[Any]:
    if "enum" in v:
        return st.sampled_from(v["enum"])
    if "const" in v:
        return st.just(v["const"])
    kind = v.get("type")
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return st.integers(v.get("minimum", -(10**6)), v.get("maximum", 10**6))
    if kind == "number":
        return st.floats(
            v.get("minimum", -1e6), v.get("maximum", 1e6), allow_nan=False, allow_infinity=False
        )
    if kind == "string":
        if v.get("format") == "date":
            return st.dates().map(lambda d: d.isoformat())
        if v.get("format") == "date-time":
            return st.datetimes(timezones=st.just(UTC)).map(
                lambda t: t.isoformat().replace("+00:00", "Z")
            )
        if "pattern" in v:
            return st.from_regex(v["pattern"], fullmatch=True)
        return st.text(min_size=v.get("minLength", 0), max_size=min(v.get("maxLength", 20), 20))
    if depth > 4:
        return st.nothing()
    if kind == "array" or "items" in v:
        return st.lists(
            _values(ts, v.get("items", {}), depth + 1),
            min_size=v.get("minItems", 0),
            max_size=min(v.get("maxItems", 3), 3),
        )
    fields = v.get("properties", {})
    required = set(v.get("required", ()))
    return st.fixed_dictionaries(
        {k: _values(ts, s, depth + 1) for k, s in fields.items() if k in required},
        optional={k: _values(ts, s, depth + 1) for k, s in fields.items() if k not in required},
    )


def _walk(node: Any, at: Loc = ()) -> list[tuple[Loc, Any]]:
    out: list[tuple[Loc, Any]] = []
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    for key, child in items:
        out.append(((*at, key), child))
        out.extend(_walk(child, (*at, key)))
    return out


def _schema_of(ts: TypeSchema, loc: Loc) -> list[dict[str, Any]]:
    """The schema variants of the value at ``loc`` of the payload."""
    dotted = ".".join(["payload", *(p for p in loc if isinstance(p, str))])
    nodes = [ts.payload] if dotted == "payload" else [t.node for t in ts.targets(dotted)]
    out = [v for n in nodes for v in ts.variants(n)]
    for part in reversed(loc):  # an item of a list: the list's item schema, per list level
        if not isinstance(part, int):
            break
        out = [v for n in out for v in ts.variants(n.get("items", {}))]
    return out


def _valid(type_: str, payload: Any) -> bool:
    try:
        REGISTRY.model(type_, 1).model_validate(payload)
    except ValueError:
        return False
    return True


@st.composite
def messages(draw: st.DrawFn, type_: str) -> dict[str, Any]:
    """A valid message of ``type_``: the example, mutated while it stays valid."""
    ts = type_schema(type_, 1)
    message = example_message(REGISTRY.spec(type_, 1))
    payload = message["payload"]
    for _ in range(draw(st.integers(0, 15))):
        places = _walk(payload)
        op = draw(st.sampled_from(("remove", "replace", "add", "copy")))
        candidate = copy.deepcopy(payload)
        if op in ("remove", "replace") and places:
            loc, _ = draw(st.sampled_from(places))
            parent = candidate
            for part in loc[:-1]:
                parent = parent[part]
            if op == "remove":
                del parent[loc[-1]]
            else:
                variants = _schema_of(ts, loc)
                if not variants:
                    continue
                parent[loc[-1]] = draw(_values(ts, draw(st.sampled_from(variants))))
        elif op == "add":
            objects = [((), candidate)] + [
                (p, v) for p, v in _walk(candidate) if isinstance(v, dict)
            ]
            loc, node = draw(st.sampled_from(objects))
            absent = {
                k: s
                for v in _schema_of(ts, loc)
                for k, s in v.get("properties", {}).items()
                if k not in node
            }
            if not absent:
                continue
            key = draw(st.sampled_from(sorted(absent)))
            node[key] = draw(_values(ts, absent[key]))
        else:
            lists = [(p, v) for p, v in _walk(candidate) if isinstance(v, list) and v]
            if not lists:
                continue
            _loc, items = draw(st.sampled_from(lists))
            items.append(copy.deepcopy(draw(st.sampled_from(items))))
        if _valid(type_, candidate):
            payload = candidate
    return {**message, "payload": payload}


def _drop_paths(ts: TypeSchema) -> list[str]:
    paths = ts.paths()
    leaves = sorted({p.rsplit(".", 1)[-1] for p in paths})
    lists = [p for p in paths if any(t.node.get("type") == "array" for t in ts.targets(p))]
    return [*paths, *(f"payload.**.{leaf}" for leaf in leaves), *(f"{p}.*" for p in lists)]


def _number_paths(ts: TypeSchema) -> list[str]:
    return [p for p in ts.paths() if any(ts.numbers(t.node) for t in ts.targets(p))]


@st.composite
def views(draw: st.DrawFn, type_: str) -> ViewSpec:
    ts = type_schema(type_, 1)
    drop = draw(st.lists(st.sampled_from(_drop_paths(ts)), min_size=0, max_size=3, unique=True))
    numbers = _number_paths(ts)
    rounds: list[RoundRule] = []
    wants_round: bool = draw(st.booleans())
    if numbers and wants_round:
        field = draw(st.sampled_from(numbers))
        rounds = [RoundRule(field=field, decimals=draw(st.integers(0, 4)))]
    if not drop and not rounds:
        drop = [draw(st.sampled_from(_drop_paths(ts)))]
    return ViewSpec(name="v", drop=tuple(drop), round=tuple(rounds))


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data(), type_=st.sampled_from(TYPES))
def test_an_allowed_view_of_a_valid_message_is_a_valid_message(
    data: st.DataObject, type_: str
) -> None:
    view = data.draw(views(type_))
    body: dict[str, Any] = {"drop": list(view.drop)}
    if view.round:
        body["round"] = [r.model_dump() for r in view.round]
    doc = agreement(
        "p", ["organized_crime"], [type_], [{"from": "all", "to": "all", "view": "v"}],
        views={"v": body},
    )  # fmt: skip
    if view_problems(Agreement.model_validate(doc)):
        event("view refused")
        return
    event("view allowed")
    message = data.draw(messages(type_))
    raw = json.dumps(message).encode()
    parse_message(raw)  # the generated message is valid
    rendered = render_view(raw, view)
    note(f"view {body}\nrendered {rendered.decode()}")
    parse_message(rendered)

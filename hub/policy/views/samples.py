"""Valid sample messages of a type, made to break a view if any valid message can.

JSON Schema does not show the rules the payload models check across fields ("a seizure
seizes something", "a vehicle has a plate or a VIN", "a declined response says why"). A
view may break them without dropping a required field: a seizure of one truck whose view
drops ``payload.conveyances`` has nothing left. To find such views the checker renders
them on samples built from the type's registered example:

- the example, and the example *enriched* with every optional field it lacks that takes a
  plain value (a text, a number, an enumeration);
- *variants*: the enriched example with one enumerated or boolean value changed, for each
  value the schema allows (kept only when still valid), so that conditional rules
  ("status declined needs declined_reason") come into play;
- *witnesses* for a drop path: each of those samples stripped of everything that can go
  while it stays valid, except what the path reaches. What remains is what keeps the
  message valid; when the drop removes it, the view fails.

Samples are cached per type and path: the hub loads the same agreements on every reload.
"""

from __future__ import annotations

import copy
import functools
import importlib
import re
from collections.abc import Iterator
from typing import Any

from pydantic import ValidationError

from hub.policy.views.schema import Schema, type_schema
from schemas.export import example_message
from schemas.registry import REGISTRY

__all__ = ["Loc", "locations", "pattern_sample", "payload_valid", "samples", "witnesses"]

Loc = tuple[str | int, ...]
"""Where a value sits in a message: keys and list indices from the root."""

_ANY = "*"
_DEEP = "**"


def payload_valid(type_: str, version: int, payload: Any) -> bool:
    """Whether ``payload`` is valid for the model of ``type_`` at ``version``.

    Args:
        type_: the message type.
        version: its schema version.
        payload: the candidate payload (any JSON value).

    Returns:
        True when the type's model accepts it.
    """
    try:
        REGISTRY.model(type_, version).model_validate(payload)
    except (ValidationError, ValueError, TypeError, RecursionError):
        return False
    return True


def locations(data: Any, path: str) -> list[Loc]:
    """Every location ``path`` reaches in ``data``, read as the redaction reads it."""
    return list(dict.fromkeys(_locate(data, path.split("."), ())))


def _locate(node: Any, segs: list[str], at: Loc) -> Iterator[Loc]:
    if not segs:
        yield at
        return
    seg, rest = segs[0], segs[1:]
    if seg == _DEEP:
        yield from _locate(node, rest, at)
        for key, child in _items(node):
            yield from _locate(child, segs, (*at, key))
        return
    if isinstance(node, list):
        for i, item in enumerate(node):
            yield from _locate(item, rest if seg == _ANY else segs, (*at, i))
    elif isinstance(node, dict):
        keys = list(node) if seg == _ANY else [seg] if seg in node else []
        for key in keys:
            yield from _locate(node[key], rest, (*at, key))


def _items(node: Any) -> list[tuple[str | int, Any]]:
    if isinstance(node, dict):
        return list(node.items())
    if isinstance(node, list):
        return list(enumerate(node))
    return []


def _walk(node: Any, at: Loc = ()) -> Iterator[tuple[Loc, Any]]:
    """Every ``(location, value)`` under ``node``, parents before children."""
    for key, child in _items(node):
        yield (*at, key), child
        yield from _walk(child, (*at, key))


def _dotted(loc: Loc) -> str:
    """The view spelling of a location: keys only, list levels left out."""
    return ".".join(str(p) for p in loc if isinstance(p, str))


def _without(data: Any, loc: Loc) -> Any:
    out = copy.deepcopy(data)
    parent = out
    for part in loc[:-1]:
        parent = parent[part]
    del parent[loc[-1]]
    return out


def _with(data: Any, loc: Loc, value: Any) -> Any:
    out = copy.deepcopy(data)
    parent = out
    for part in loc[:-1]:
        parent = parent[part]
    parent[loc[-1]] = value
    return out


def _schemas_at(type_: str, version: int, loc: Loc) -> list[Schema]:
    """The schema variants of the field at ``loc`` of the payload (``loc`` from payload)."""
    ts = type_schema(type_, version)
    path = _dotted(("payload", *loc))
    out: list[Schema] = []
    if path == "payload":
        out = ts.variants(ts.payload)
    else:
        for target in ts.targets(path):
            if target.key is not None:
                out.extend(ts.variants(target.node))
    # An item of a list (of a list…): the schema of the items, once per list level.
    trailing = _trailing_ints(loc)
    for _ in range(trailing):
        out = [v for node in out for v in ts.variants(dict(node.get("items", {})))]
    return out


def _trailing_ints(loc: Loc) -> int:
    count = 0
    for part in reversed(loc):
        if not isinstance(part, int):
            break
        count += 1
    return count


_FORMATS = {"date": "2026-01-01", "date-time": "2026-01-01T00:00:00Z"}


def _filler(schema: Schema) -> tuple[bool, Any]:
    """A plain value ``schema`` accepts, when one is easy to make: ``(found, value)``.

    The value is only a candidate: the caller keeps it when the message stays valid.
    """
    if "enum" in schema:
        return True, schema["enum"][0]
    if "const" in schema:
        return True, schema["const"]
    kind = schema.get("type")
    if kind == "string":
        if schema.get("examples"):
            return True, schema["examples"][0]
        if "format" in schema:
            value = _FORMATS.get(str(schema["format"]))
            return value is not None, value
        if "pattern" in schema:
            value = pattern_sample(str(schema["pattern"]))
            return value is not None, value
        return True, "x" * max(1, int(schema.get("minLength", 1)))
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", -1) + 1)
        return True, int(low) if kind == "integer" else float(low)
    return False, None


# The standard library's own regular expression parser. Python has no public API that reads
# a pattern: re._parser is private, its old public name sre_parse warns as deprecated since
# 3.11, and the public ways to make a string from a pattern are third-party generators
# (exrex, hypothesis' from_regex), not worth a runtime dependency for sample values. Used
# defensively: anything unexpected in the parse makes pattern_sample return None (no sample),
# and a sample is kept only if re.search accepts it.
_PARSER: Any = importlib.import_module("re._parser")
_CATEGORY = {"CATEGORY_DIGIT": "0", "CATEGORY_WORD": "a", "CATEGORY_SPACE": " "}


def pattern_sample(pattern: str) -> str | None:
    """A short string matching ``pattern`` (None when the pattern is beyond this sketch)."""
    try:
        text = "".join(_emit(_PARSER.parse(pattern)))
    except (re.error, ValueError, TypeError, KeyError, IndexError):
        return None
    return text if re.search(pattern, text) else None


def _emit(items: Any) -> Iterator[str]:
    for op, arg in items:
        name = str(op)
        if name == "LITERAL":
            yield chr(arg)
        elif name in ("ANY", "NOT_LITERAL"):
            yield "b" if name == "NOT_LITERAL" and arg == ord("a") else "a"
        elif name == "IN":
            yield _one_of(arg)
        elif name in ("MAX_REPEAT", "MIN_REPEAT"):
            low, _high, sub = arg
            for _ in range(low):
                yield from _emit(sub)
        elif name == "SUBPATTERN":
            yield from _emit(arg[-1])
        elif name == "BRANCH":
            yield from _emit(arg[1][0])
        elif name == "CATEGORY":
            yield _CATEGORY[str(arg)]
        elif name != "AT":  # anchors match no character
            raise ValueError(f"pattern element {name} is not sketched")


def _one_of(options: Any) -> str:
    op, arg = options[0]
    name = str(op)
    if name == "LITERAL":
        return chr(arg)
    if name == "RANGE":
        return chr(arg[0])
    if name == "CATEGORY":
        return _CATEGORY[str(arg)]
    raise ValueError(f"character class element {name} is not sketched")


def _enriched(type_: str, version: int, payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` with each absent optional plain field filled in, where it stays valid."""
    out = copy.deepcopy(payload)
    objects: list[Loc] = [()] + [loc for loc, value in _walk(out) if isinstance(value, dict)]
    for loc in objects:
        node: Any = out
        for part in loc:
            node = node[part]
        for variant in _schemas_at(type_, version, loc):
            fields: dict[str, Any] = variant.get("properties", {})
            if not set(node) <= set(fields):
                continue  # another branch of a union
            for key, field_schema in fields.items():
                if key in node:
                    continue
                for option in type_schema(type_, version).variants(dict(field_schema)):
                    found, value = _filler(option)
                    if not found:
                        continue
                    candidate = _with(out, (*loc, key), value)
                    if payload_valid(type_, version, candidate):
                        out = candidate
                        node = _at(out, loc)
                        break
    return out


def _at(data: Any, loc: Loc) -> Any:
    for part in loc:
        data = data[part]
    return data


def _alternatives(type_: str, version: int, loc: Loc, value: Any) -> list[Any]:
    """The other enumerated values the field at ``loc`` may take."""
    if isinstance(value, bool):
        return [not value]
    options: list[Any] = []
    for schema in _schemas_at(type_, version, loc):
        options.extend(schema.get("enum", ()))
    return [o for o in dict.fromkeys(options) if o != value]


@functools.cache
def samples(type_: str, version: int) -> tuple[dict[str, Any], ...]:
    """Valid whole messages of ``type_`` at ``version``: the example, enriched, and variants."""
    base = example_message(REGISTRY.spec(type_, version))
    rich = {**base, "payload": _enriched(type_, version, base["payload"])}
    out = [base, rich]
    for loc, value in _walk(rich["payload"]):
        if isinstance(value, dict | list):
            continue
        for other in _alternatives(type_, version, loc, value):
            payload = _with(rich["payload"], loc, other)
            if payload_valid(type_, version, payload):
                out.append({**rich, "payload": payload})
    return tuple(out)


def _minimal(type_: str, version: int, payload: Any, keep: list[Loc]) -> Any:
    """``payload`` with everything removed that can go while it stays valid, but ``keep``."""
    # Latest first in document order: removing an item never shifts a location still to try.
    order = [loc for loc, _value in _walk(payload)][::-1]
    for loc in order:
        if any(loc == k[: len(loc)] or k == loc[: len(k)] for k in keep):
            continue  # what the path reaches, on the way to it, or under it
        candidate = _without(payload, loc)
        if payload_valid(type_, version, candidate):
            payload = candidate
    return payload


@functools.cache
def witnesses(type_: str, version: int, path: str) -> tuple[dict[str, Any], ...]:
    """Each sample of ``type_`` stripped down to what stays valid around ``path``.

    Samples that ``path`` reaches nothing in are left out.

    Args:
        type_: the message type.
        version: its schema version.
        path: a view's drop path (``payload.persons``, ``payload.*.name``, ``**`` …).

    Returns:
        Whole messages, each as small as validity allows while keeping what ``path`` reaches.
    """
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for message in samples(type_, version):
        keep = [loc[1:] for loc in locations(message, path)]
        if not keep:
            continue
        payload = _minimal(type_, version, message["payload"], keep)
        key = repr(payload)
        if key not in seen:
            seen.add(key)
            out.append({**message, "payload": payload})
    return tuple(out)

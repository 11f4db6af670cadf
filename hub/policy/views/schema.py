"""Where a view's field path lands in the JSON Schema of a message type.

A view path (``payload.persons.name``, ``payload.**.lat``) is read exactly as
:mod:`hub.policy.redaction` applies it: a key applied to a list applies to each item, ``*``
is any one key or list item (last, it empties the object or list), ``**`` is any depth.
:func:`targets` walks the exported JSON Schema of one message type (``$ref`` resolved, every
``anyOf``/``oneOf`` branch followed) and yields each field the path reaches, with the
object schema that holds it, so that the caller can tell whether removing it is allowed.

Concrete paths leave list levels out (``payload.persons.name`` is the name of every
person): the same spelling a view uses.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from schemas.export import message_schema
from schemas.registry import REGISTRY

__all__ = ["Target", "TypeSchema", "type_schema"]

_ANY = "*"
_DEEP = "**"
# Message schemas are a few levels deep; the limit only stops a recursive schema under `**`.
_MAX_DEPTH = 24

Schema = dict[str, Any]
_CONDITIONAL = "x-enlace-branch-required"


@dataclass(frozen=True)
class Target:
    """One place a view path reaches in one variant of a schema.

    Attributes:
        path: the concrete dotted path (``payload.persons.name``; no list levels).
        holder: the object schema that holds the field, or the list or object a trailing
            ``*`` empties.
        key: the field's name, or None when a trailing ``*`` empties ``holder``.
    """

    path: str
    holder: Schema
    key: str | None

    @property
    def node(self) -> Schema:
        """The schema of what the path reaches (the emptied container for ``*``)."""
        if self.key is None:
            return self.holder
        return dict(self.holder.get("properties", {}).get(self.key, {}))

    def problem(self) -> str | None:
        """Why removing this target makes a message invalid, or None when it may go.

        The phrase completes "`<path>` is …": ``required``, ``required in one of the
        forms the schema allows``, ``a list of at least 1 item(s)``, ``an object that
        requires a, b``.
        """
        if self.key is None:
            if _is_array(self.holder):
                least = int(self.holder.get("minItems", 0))
                return f"a list of at least {least} item(s)" if least else None
            required = list(self.holder.get("required", ()))
            return f"an object that requires {', '.join(required)}" if required else None
        if self.key in self.holder.get(_CONDITIONAL, ()):
            return "required in one of the forms the schema allows"
        if self.key in self.holder.get("required", ()):
            return "required"
        return None


def _merge(base: Schema, branch: Schema) -> Schema:
    """``branch`` read as a further constraint on ``base`` (a branch of its anyOf/oneOf)."""
    merged = {**base, **branch}
    if "properties" in base or "properties" in branch:
        # The base's own property schemas are the full ones (a branch only narrows).
        merged["properties"] = {**branch.get("properties", {}), **base.get("properties", {})}
    required = [*base.get("required", ()), *branch.get("required", ())]
    if required:
        merged["required"] = list(dict.fromkeys(required))
    # Remember what only a branch requires, to say "in one of its forms" rather than always.
    conditional = [*base.get(_CONDITIONAL, ()), *branch.get("required", ())]
    if conditional and "properties" in base:
        merged[_CONDITIONAL] = [
            k for k in dict.fromkeys(conditional) if k not in base.get("required", ())
        ]
    return merged


def _is_array(schema: Schema) -> bool:
    return schema.get("type") == "array" or "items" in schema


def _is_object(schema: Schema) -> bool:
    return schema.get("type") == "object" or "properties" in schema


# eq=False: hashed by identity, one instance per type and version (type_schema is cached).
@dataclass(frozen=True, eq=False)
class TypeSchema:
    """The JSON Schema of one message type and version, walked by view paths."""

    type: str
    version: int
    schema: Schema

    @property
    def label(self) -> str:
        """``seizure v1``."""
        return f"{self.type} v{self.version}"

    @property
    def payload(self) -> Schema:
        return dict(self.schema["properties"]["payload"])

    def variants(self, schema: Schema) -> list[Schema]:
        """The concrete shapes ``schema`` allows: ``$ref`` resolved, unions expanded."""
        return self._variants(schema, 0)

    def _variants(self, schema: Schema, depth: int) -> list[Schema]:
        if depth > _MAX_DEPTH:
            return []
        if "$ref" in schema:
            target = self._resolve(str(schema["$ref"]))
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            return self._variants(_merge(target, rest), depth + 1)
        if "allOf" in schema:
            merged = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                for resolved in self._variants(part, depth + 1)[:1]:
                    merged = _merge(merged, resolved)
            return self._variants(merged, depth + 1)
        for union in ("anyOf", "oneOf"):
            if union in schema:
                base = {k: v for k, v in schema.items() if k not in (union, "discriminator")}
                out: list[Schema] = []
                for branch in schema[union]:
                    out.extend(self._variants(_merge(base, branch), depth + 1))
                return out
        return [schema]

    def _resolve(self, ref: str) -> Schema:
        node: Any = self.schema
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
        return dict(node)

    def children(self, schema: Schema) -> Iterator[tuple[str | None, Schema]]:
        """``(key, schema)`` one level down: a list's items (key None) or an object's fields."""
        for variant in self.variants(schema):
            if _is_array(variant):
                yield None, dict(variant.get("items", {}))
            elif _is_object(variant):
                for key, child in variant.get("properties", {}).items():
                    yield key, dict(child)

    def targets(self, path: str) -> list[Target]:
        """Every place ``path`` (``payload.…``) reaches in this type; empty when none."""
        segs = path.split(".")[1:]
        if not segs or segs[-1] == _DEEP:
            return []  # not a view path (``**`` is never last)
        found: dict[tuple[str, str | None, str | None], Target] = {}
        for target in self._walk(self.payload, segs, "payload", 0):
            found.setdefault((target.path, target.key, target.problem()), target)
        return list(found.values())

    def _walk(self, schema: Schema, segs: list[str], at: str, depth: int) -> Iterator[Target]:
        if depth > _MAX_DEPTH:
            return
        for variant in self.variants(schema):
            yield from self._walk_variant(variant, segs, at, depth)

    def _walk_variant(self, node: Schema, segs: list[str], at: str, depth: int) -> Iterator[Target]:
        seg, rest = segs[0], segs[1:]
        if seg == _DEEP:
            yield from self._walk_variant(node, rest, at, depth + 1)
            for key, child in self.children(node):
                yield from self._walk(child, segs, at if key is None else f"{at}.{key}", depth + 1)
            return
        if _is_array(node):
            items = dict(node.get("items", {}))
            if seg == _ANY and not rest:
                yield Target(at, node, None)
            else:
                # `*` is one item (the list level is skipped); a key applies to every item.
                yield from self._walk(items, rest if seg == _ANY else segs, at, depth + 1)
            return
        if not _is_object(node):
            return
        fields: dict[str, Any] = node.get("properties", {})
        if seg == _ANY:
            if not rest:
                yield Target(at, node, None)
                return
            for key, child in fields.items():
                yield from self._walk(dict(child), rest, f"{at}.{key}", depth + 1)
            return
        if seg not in fields:
            return
        if not rest:
            yield Target(f"{at}.{seg}", node, seg)
        else:
            yield from self._walk(dict(fields[seg]), rest, f"{at}.{seg}", depth + 1)

    def fields_under(self, path: str) -> list[str]:
        """The field names one level under what ``path`` reaches (list levels skipped)."""
        deep = path.endswith(f".{_DEEP}")
        if deep:
            path = path.removesuffix(f".{_DEEP}")
        nodes = [self.payload] if path == "payload" else [t.node for t in self.targets(path)]
        names: dict[str, None] = {}
        for node in nodes:
            self._names(node, names, deep, 0)
        return list(names)

    def _names(self, schema: Schema, names: dict[str, None], deep: bool, depth: int) -> None:
        if depth > _MAX_DEPTH:
            return
        for key, child in self.children(schema):
            if key is not None:
                names.setdefault(key, None)
            if key is None or deep:
                self._names(child, names, deep, depth + 1)

    def paths(self) -> list[str]:
        """Every concrete field path of the payload (``payload.persons.name`` …), sorted."""
        out: set[str] = set()
        self._collect(self.payload, "payload", out, 0)
        out.discard("payload")
        return sorted(out)

    def _collect(self, schema: Schema, at: str, out: set[str], depth: int) -> None:
        if depth > _MAX_DEPTH:
            return
        out.add(at)
        for key, child in self.children(schema):
            self._collect(child, at if key is None else f"{at}.{key}", out, depth + 1)

    def numbers(self, schema: Schema) -> list[tuple[str, Schema]]:
        """Every decimal-number schema at or under ``schema``, as ``(relative path, schema)``.

        Integers are left out: rounding touches only decimal numbers.
        """
        out: list[tuple[str, Schema]] = []
        self._numbers(schema, "", out, 0)
        return out

    def _numbers(self, schema: Schema, at: str, out: list[tuple[str, Schema]], depth: int) -> None:
        if depth > _MAX_DEPTH:
            return
        for variant in self.variants(schema):
            if variant.get("type") == "number":
                out.append((at, variant))
        for key, child in self.children(schema):
            self._numbers(child, at if key is None else f"{at}.{key}", out, depth + 1)


@functools.cache
def type_schema(type_: str, version: int) -> TypeSchema:
    """The walkable JSON Schema of ``type_`` at ``version`` (as ``enlace schemas export``)."""
    return TypeSchema(type_, version, message_schema(REGISTRY.spec(type_, version)))

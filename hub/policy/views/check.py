"""Refuse agreement views that would deliver invalid messages or redact nothing.

A view (``views:`` of an agreement) drops fields and rounds numbers of the messages its
flows carry; the hub countersigns what is left. :func:`view_problems` checks every view
against every version of every message type the flows using it carry, and names the
entry of the view (``views.<name>.drop.<i>`` or ``views.<name>.round.<i>.field``) that:

- reaches no field of those types (a misspelt path redacts nothing: a data-protection
  bug), with the fields nearby;
- drops a field the JSON Schema requires, empties a list that must hold items, or an
  object with required fields;
- rounds nothing (no decimal number under the path), or rounds a number whose bounds a
  rounded value can cross (``> 0`` rounds to ``0``);
- breaks a rule the type's model checks across fields, which JSON Schema cannot show
  ("a seizure lists at least one of drugs, …, conveyances"): found by rendering the view
  of valid sample messages (:mod:`hub.policy.views.samples`) and validating the result as a
  recipient would.

The first three are exact, read off the exported JSON Schema; the last one is as good as
the samples (each type's registered example, enriched and varied).
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterator

from hub.policy.model import FULL, Agreement, Loc, RoundRule, ViewSpec
from hub.policy.redaction import render_view
from hub.policy.views.samples import samples, witnesses
from hub.policy.views.schema import Target, TypeSchema, type_schema
from schemas.canonical import canonical_json
from schemas.errors import EnlaceError
from schemas.message import parse_message
from schemas.registry import REGISTRY

__all__ = ["covered_types", "view_problems"]

Problem = tuple[str, Loc]
_ANY = "*"
_DEEP = "**"


def covered_types(agreement: Agreement, view: str) -> list[TypeSchema]:
    """The message types (every registered version) a view is applied to.

    Those the flows using ``view`` carry, or all of the agreement's types when no flow
    uses it; sorted by type, then version.
    """
    types: dict[str, None] = {}
    used = [flow for flow in agreement.flows if flow.view == view]
    for flow in used:
        types.update(dict.fromkeys(flow.types or agreement.types))
    if not used:
        types.update(dict.fromkeys(agreement.types))
    # A type unknown to the registry carries no messages the hub accepts: nothing to check.
    return [type_schema(t, v) for t in sorted(types) for v in REGISTRY.versions(t)]


def view_problems(agreement: Agreement) -> list[Problem]:
    """What is wrong with each view of ``agreement``, with where (empty when fine).

    Each problem is ``(sentence, location)``: the location is the offending entry, e.g.
    ``("views", "no-persons", "drop", 0)``, so that the loader cites its line.
    """
    problems: list[Problem] = []
    for name in agreement.views:
        if name == FULL:
            continue
        schemas = covered_types(agreement, name)
        if not schemas:
            continue
        view = agreement.view(name)
        static = list(_static_problems(view, schemas))
        problems.extend(static)
        if not static:
            problems.extend(_sample_problems(view, schemas)[:1])
    return problems


def _static_problems(view: ViewSpec, schemas: list[TypeSchema]) -> Iterator[Problem]:
    for i, path in enumerate(view.drop):
        loc: Loc = ("views", view.name, "drop", i)
        hits = {ts: ts.targets(path) for ts in schemas}
        if not any(hits.values()):
            yield _unknown(view.name, "drops", path, schemas), loc
            continue
        for ts, targets in hits.items():
            broken = next((t for t in targets if t.problem()), None)
            if broken is not None:
                yield _required(view.name, path, ts, broken), loc
                break
    for i, rule in enumerate(view.round):
        loc = ("views", view.name, "round", i, "field")
        problem = _round_problem(view.name, rule, schemas)
        if problem:
            yield problem, loc


def _label(schemas: list[TypeSchema]) -> str:
    return ", ".join(ts.label for ts in schemas)


def _unknown(view: str, verb: str, path: str, schemas: list[TypeSchema]) -> str:
    segs = path.split(".")
    # The longest beginning of the path that reaches a field somewhere, and what is under it.
    k = len(segs) - 1
    while k > 1 and not _reaches(".".join(segs[:k]), schemas):
        k -= 1
    reached = ".".join(segs[:k])
    names = list(dict.fromkeys(n for ts in schemas for n in ts.fields_under(reached)))
    missing = segs[k]
    sentence = (
        f"view `{view}` {verb} `{path}`, which is no field of {_label(schemas)}: a misspelt "
        "path redacts nothing."
    )
    close = difflib.get_close_matches(missing, names, n=3, cutoff=0.5)
    if close and missing not in (_ANY, _DEEP):
        options = " or ".join(f"`{'.'.join([*segs[:k], c, *segs[k + 1 :]])}`" for c in close)
        sentence += f" Did you mean {options}?"
    sentence += " Correct the path or remove this entry."
    where = "at any depth under" if reached.endswith(_DEEP) else "under"
    if names:
        sentence += f" Fields {where} `{reached.removesuffix('.' + _DEEP)}`: "
        sentence += ", ".join(sorted(names)) + "."
    else:
        sentence += f" `{reached}` has no fields under it."
    return sentence


def _reaches(prefix: str, schemas: list[TypeSchema]) -> bool:
    if prefix.endswith(f".{_DEEP}"):
        prefix = prefix.removesuffix(f".{_DEEP}")
        if prefix == "payload":
            return True
    return any(ts.targets(prefix) for ts in schemas)


def _optional_container(ts: TypeSchema, concrete: str) -> str | None:
    """The nearest field containing ``concrete`` that a view may drop, if any."""
    segs = concrete.split(".")
    for k in range(len(segs) - 1, 1, -1):
        prefix = ".".join(segs[:k])
        targets = ts.targets(prefix)
        if targets and not any(t.problem() for t in targets):
            return prefix
    return None


def _required(view: str, path: str, ts: TypeSchema, target: Target) -> str:
    if target.key is None:
        head = f"view `{view}` empties `{target.path}` with `{path}`"
    elif target.path == path:
        head = f"view `{view}` drops `{path}`"
    else:
        head = f"view `{view}` drops `{path}`, which reaches `{target.path}`"
    sentence = (
        f"{head}, but in message type `{ts.type}` v{ts.version} `{target.path}` is "
        f"{target.problem()}: recipients of this view would get messages that fail their "
        "schema. Remove this entry"
    )
    container = _optional_container(ts, target.path)
    if container:
        sentence += f", or drop `{container}` as a whole"
    return sentence + "."


def _round_problem(view: str, rule: RoundRule, schemas: list[TypeSchema]) -> str | None:
    hits = {ts: ts.targets(rule.field) for ts in schemas}
    if not any(hits.values()):
        return _unknown(view, "rounds", rule.field, schemas)
    numbers = [
        (ts, f"{target.path}{rel}", number)
        for ts, targets in hits.items()
        for target in targets
        for rel, number in ts.numbers(target.node)
    ]
    if not numbers:
        return (
            f"view `{view}` rounds `{rule.field}`, under which {_label(schemas)} have no "
            "decimal number: the rule rounds nothing. Point it at a decimal number field "
            "(e.g. payload.location.lat) or remove it."
        )
    for ts, where, number in numbers:
        why = _rounding_breaks(number, rule.decimals)
        if why:
            return (
                f"view `{view}` rounds `{where}` to {rule.decimals} decimal(s), but message "
                f"type `{ts.type}` v{ts.version} requires it {why}: a rounded value can "
                "fail its schema. Round to more decimals, or drop the field instead."
            )
    return None


def _rounding_breaks(number: dict[str, object], decimals: int) -> str | None:
    """Which bound of ``number`` a value rounded to ``decimals`` may cross, if any."""
    for key, words in (("exclusiveMinimum", "above"), ("exclusiveMaximum", "below")):
        bound = number.get(key)
        if isinstance(bound, int | float):
            return f"{words} {bound}"
    for key, words in (("minimum", "at least"), ("maximum", "at most")):
        bound = number.get(key)
        # Rounding is monotonic, so a bound that is itself a rounded value is never crossed.
        if isinstance(bound, int | float) and round(bound, decimals) != bound:
            return f"{words} {bound}"
    if "multipleOf" in number:
        return f"a multiple of {number['multipleOf']}"
    return None


def _sample_problems(view: ViewSpec, schemas: list[TypeSchema]) -> list[Problem]:
    for ts in schemas:
        found = _breaking_sample(view, ts.type, ts.version)
        if found is not None:
            loc, entry, reason = found
            return [
                (
                    f"view `{view.name}` {entry}, which some valid messages of type "
                    f"`{ts.type}` v{ts.version} need: their view would fail the schema "
                    f"({reason}; a rule the model checks across fields). Remove this entry "
                    "from the view.",
                    loc,
                )
            ]
    return []


def _invalid(message: dict[str, object], view: ViewSpec) -> str | None:
    """Why the rendered ``view`` of ``message`` is not a valid message (None when it is)."""
    try:
        parse_message(render_view(canonical_json(message), view), max_bytes=1 << 30)
    except EnlaceError as exc:
        # "schema_invalid: message <id>: seizure v1 field payload: Value error, <rule>"
        # → "seizure v1 field payload: <rule>": the sample's id means nothing to the reader.
        text = re.sub(r"^[a-z_]+: (message \S+: )?", "", str(exc))
        return text.replace("Value error, ", "")
    return None


@functools.cache
def _breaking_sample(view: ViewSpec, type_: str, version: int) -> tuple[Loc, str, str] | None:
    """The first sample of ``type_`` whose view fails, as what the check reports.

    Returns:
        ``(location of the entry to blame, what the entry does, why the view is invalid)``,
        or None when every sample's view is valid.
    """
    candidates = list(samples(type_, version))
    for path in view.drop:
        candidates.extend(witnesses(type_, version, path))
    for message in candidates:
        if _invalid(message, view) is None:
            continue
        # Name the first entry with which the view fails: drops in order, then roundings.
        for i in range(len(view.drop)):
            part = ViewSpec(name=view.name, drop=view.drop[: i + 1])
            reason = _invalid(message, part)
            if reason is not None:
                return ("views", view.name, "drop", i), f"drops `{view.drop[i]}`", reason
        for j, rule in enumerate(view.round):
            part = ViewSpec(name=view.name, drop=view.drop, round=view.round[: j + 1])
            reason = _invalid(message, part)
            if reason is not None:
                where = ("views", view.name, "round", j, "field")
                return where, f"rounds `{rule.field}`", reason
    return None

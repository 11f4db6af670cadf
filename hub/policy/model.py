"""The sharing agreement document: parties, themes, types, flows, views and validity.

An agreement file (``agreements/<id>.yaml``) looks like::

    id: seizure-statistics
    title: Seizure statistics for every party, without persons or exact places
    parties: [BZ, CR, DO, GT, HN, NI, PA, SV, US]
    themes: [narcotics, small_arms]
    types: [seizure]
    max_tlp: amber
    valid_from: 2026-01-01T00:00:00Z
    valid_until: 2027-01-01T00:00:00Z
    views:
      statistics:
        drop: [payload.persons]
        round: [{field: payload.**.latitude, decimals: 1}]
    flows:
      - {name: stats, from: all, to: all, view: statistics}
    signatures: [{signer: BZ, kid: ..., jws: ...}, ...]

Flow ends name countries or groups: ``members`` (the member parties of the directory),
``sica`` (the members other than US), ``all`` (the same as ``members``: observers are
never reached through a group and must be named), and, as a destination only,
``requester`` (the country whose request a reply answers). Every group is read inside
the agreement's own ``parties``: nobody receives under an agreement it has not signed.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from schemas.common import CountryCode, StrictModel, Theme, Tlp, UtcDatetime

__all__ = [
    "FULL",
    "FULL_VIEW",
    "GROUPS",
    "REQUESTER",
    "Agreement",
    "FieldPath",
    "Flow",
    "RoundRule",
    "ViewSpec",
    "agreement_problems",
]

FULL = "full"
REQUESTER = "requester"
GROUPS: tuple[str, ...] = ("members", "sica", "all")
"""Groups a flow end may name besides country codes (``requester`` only as a destination)."""

_SEGMENT = r"(?:[A-Za-z0-9_]+|\*|\*\*)"
_FIELD_PATH = re.compile(rf"^payload(?:\.{_SEGMENT})+$")
_NAME = r"^[a-z0-9][a-z0-9._-]*$"
_TYPE = r"^[a-z][a-z0-9_]*$"


def _field_path(value: str) -> str:
    if not _FIELD_PATH.fullmatch(value) or value.endswith(".**"):
        raise ValueError(
            f"{value!r} is not a payload field path: write payload.<key>[.<key>…], where a key "
            "may be * (any one key or list item) or ** (any depth, not last)"
        )
    return value


FieldPath = Annotated[str, AfterValidator(_field_path)]
"""A view's field path, checked item by item so that an error names the entry's index."""


class RoundRule(StrictModel):
    """Coarsen numbers: every number at ``field`` (or under it) is rounded to ``decimals``."""

    field: str
    decimals: int = Field(ge=0, le=6)

    @field_validator("field")
    @classmethod
    def _path(cls, value: str) -> str:
        return _field_path(value)


class ViewSpec(StrictModel):
    """A view of a message: ``full`` (the original bytes) or a named redaction.

    ``drop`` removes fields; ``round`` coarsens numbers. Paths start at ``payload``; a
    named key applied to a list applies to each of its items.
    """

    name: str = Field(pattern=_NAME, max_length=64)
    drop: tuple[FieldPath, ...] = ()
    round: tuple[RoundRule, ...] = ()

    @property
    def is_full(self) -> bool:
        return self.name == FULL and not self.drop and not self.round

    def richness(self) -> tuple[int, int, int, int]:
        """Sort key, larger is richer: full first, then fewer drops, fewer and finer roundings."""
        finest = sum(r.decimals for r in self.round)
        return (int(self.is_full), -len(self.drop), -len(self.round), finest)


FULL_VIEW = ViewSpec(name=FULL)


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


Ends = Annotated[list[str], BeforeValidator(_as_list), Field(min_length=1)]


class _ViewBody(StrictModel):
    drop: list[FieldPath] = Field(default_factory=list)
    round: list[RoundRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _not_empty(self) -> _ViewBody:
        if not self.drop and not self.round:
            raise ValueError("a view drops or rounds at least one field; else use `full`")
        return self


class Flow(StrictModel):
    """Who may send which types to whom, and in which view."""

    name: str | None = Field(default=None, pattern=_NAME, max_length=64)
    from_: Ends = Field(alias="from")
    to: Ends
    types: list[Annotated[str, Field(pattern=_TYPE)]] | None = None
    view: str = Field(default=FULL, pattern=_NAME)

    model_config = StrictModel.model_config | {"populate_by_name": True}


class Agreement(StrictModel):
    """A sharing agreement (the document without its ``signatures``)."""

    id: str = Field(pattern=_NAME, max_length=100)
    title: str = Field(min_length=1, max_length=300)
    version: int = Field(default=1, ge=1)
    parties: list[CountryCode] = Field(min_length=1)
    themes: list[Theme] = Field(min_length=1)
    types: list[Annotated[str, Field(pattern=_TYPE)]] = Field(min_length=1)
    max_tlp: Tlp
    valid_from: UtcDatetime
    valid_until: UtcDatetime
    views: dict[Annotated[str, Field(pattern=_NAME)], _ViewBody] = Field(default_factory=dict)
    flows: list[Flow] = Field(min_length=1)

    @field_validator("parties")
    @classmethod
    def _unique_parties(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a party is listed twice")
        return value

    @field_validator("views")
    @classmethod
    def _no_full(cls, value: dict[str, _ViewBody]) -> dict[str, _ViewBody]:
        if FULL in value:
            raise ValueError("`full` is the unredacted view; name a redaction otherwise")
        return value

    def view(self, name: str) -> ViewSpec:
        """The view spec of ``name`` (``full`` or one of ``views``)."""
        if name == FULL:
            return FULL_VIEW
        body = self.views[name]
        return ViewSpec(name=name, drop=tuple(body.drop), round=tuple(body.round))

    def flow_label(self, index: int) -> str:
        """The flow's name, or ``#<index>`` when it has none."""
        return self.flows[index].name or f"#{index}"


Loc = tuple[str | int, ...]


def agreement_problems(agreement: Agreement) -> list[tuple[str, Loc]]:
    """What is inconsistent across the fields of an agreement, with where (empty when fine).

    Kept apart from the model so that each problem names its own field and line.
    """
    problems: list[tuple[str, Loc]] = []
    if agreement.valid_until <= agreement.valid_from:
        problems.append(("valid_until must be after valid_from", ("valid_until",)))
    parties = set(agreement.parties)
    for i, flow in enumerate(agreement.flows):
        for end_name, ends in (("from", flow.from_), ("to", flow.to)):
            for j, end in enumerate(ends):
                if end in GROUPS or end in parties or (end == REQUESTER and end_name == "to"):
                    continue
                allowed = ", ".join((*GROUPS, REQUESTER) if end_name == "to" else GROUPS)
                problems.append(
                    (
                        f"{end!r} is neither a party of this agreement nor a group ({allowed})",
                        ("flows", i, end_name, j),
                    )
                )
        for j, type_ in enumerate(flow.types or ()):
            if type_ not in agreement.types:
                problems.append(
                    (f"{type_!r} is not among the agreement's types", ("flows", i, "types", j))
                )
        if flow.view != FULL and flow.view not in agreement.views:
            problems.append(
                (f"no view {flow.view!r} is declared under `views`", ("flows", i, "view"))
            )
    seen: set[str] = set()
    for i, flow in enumerate(agreement.flows):
        if flow.name is not None:
            if flow.name in seen:
                problems.append((f"flow name {flow.name!r} is used twice", ("flows", i, "name")))
            seen.add(flow.name)
    return problems

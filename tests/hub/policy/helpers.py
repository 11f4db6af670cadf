"""Builders for policy tests: agreements as plain data, statuses without files."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from hub.policy.loader import AgreementSet, AgreementStatus
from hub.policy.model import Agreement, agreement_problems
from schemas.common import PARTIES
from schemas.envelope import Envelope
from tests.factories import EPOCH, TestDirectory, later

__all__ = ["agreement", "envelope", "status", "statuses"]


def agreement(
    id_: str,
    themes: list[str],
    types: list[str],
    flows: list[dict[str, Any]],
    parties: tuple[str, ...] = PARTIES,
    max_tlp: str = "amber",
    valid_from: datetime = EPOCH,
    valid_until: datetime | None = None,
    views: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An agreement document (plain data, as the YAML file holds it, without signatures)."""
    return {
        "id": id_,
        "title": f"Agreement {id_}",
        "parties": list(parties),
        "themes": themes,
        "types": types,
        "max_tlp": max_tlp,
        "valid_from": valid_from.isoformat().replace("+00:00", "Z"),
        "valid_until": (valid_until or later(365)).isoformat().replace("+00:00", "Z"),
        "views": views or {},
        "flows": flows,
    }


def status(data: dict[str, Any], missing: tuple[str, ...] = ()) -> AgreementStatus:
    """A loaded agreement as if signed by every party except ``missing``."""
    a = Agreement.model_validate(data)
    problems = agreement_problems(a)
    if problems:
        raise ValueError(problems)
    return AgreementStatus(
        agreement=a,
        path=Path(f"{a.id}.yaml"),
        signed_by=tuple(p for p in a.parties if p not in missing),
        missing=tuple(p for p in a.parties if p in missing),
    )


def statuses(*items: AgreementStatus) -> AgreementSet:
    return AgreementSet.of(items)


def envelope(td: TestDirectory, cc: str, theme: str, type_: str, **fields: Any) -> Envelope:
    payload = fields.pop("payload", {"summary": "x"})
    return Envelope.model_validate(td.envelope(cc, theme, type_, payload, **fields))

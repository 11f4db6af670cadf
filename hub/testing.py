"""Test factories of the hub side: agreements as plain data, and a small governance.

For tests and benchmarks (``tests/`` and ``bench/`` both use them): no files, no NATS.
Directory, keys and signed messages come from :mod:`schemas.testing`.

The governance of :func:`governance`: parties GT, SV, HN, US, one agreement ``gangs-ca``
signed by all (as statuses: signature checking is the loader's own test) with flows
GT → SV full view and GT → US a redacted ``no-persons`` view, and SV → GT. HN receives
nothing from GT. :func:`fanout_governance`: all nine parties, GT's reports to the eight
others (the bench's fan-out row).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from hub.governance import Governance, HubSigner
from hub.policy.loader import AgreementSet, AgreementStatus
from hub.policy.model import Agreement, agreement_problems
from schemas.common import PARTIES
from schemas.testing import EPOCH, TestDirectory, later, make_directory

__all__ = [
    "FANOUT_FULL",
    "FANOUT_RECIPIENTS",
    "GOVERNANCE_PARTIES",
    "NO_PERSONS",
    "agreement",
    "fanout_governance",
    "governance",
    "status",
    "statuses",
]

GOVERNANCE_PARTIES = ("GT", "HN", "SV", "US")
"""The parties of :func:`governance`."""

NO_PERSONS = {"drop": ["payload.persons"]}
"""The redaction of the ``no-persons`` view of :func:`governance`."""


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
    """An agreement document (plain data, as the YAML file holds it, without signatures).

    Args:
        id_: the agreement's id (its title is made from it).
        themes: the themes it covers.
        types: the message types it covers.
        flows: its flows (``from``, ``to``, optional ``view`` and ``types``).
        parties: its parties.
        max_tlp: the highest TLP it carries.
        valid_from: when it comes into force.
        valid_until: when it ends (a year after :data:`~schemas.testing.EPOCH` if None).
        views: its named redactions.

    Returns:
        The document as plain data.
    """
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
    """A loaded agreement as if signed by every party except ``missing``.

    Raises:
        ValueError: the agreement breaks a rule the loader checks.
    """
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
    """The agreement set of ``items``."""
    return AgreementSet.of(items)


def governance() -> tuple[TestDirectory, Governance, HubSigner]:
    """The directory (with its keys), governance and hub signer described above."""
    flows = [
        {"from": "GT", "to": "SV"},
        {"from": "GT", "to": "US", "view": "no-persons"},
        {"from": "SV", "to": "GT"},
    ]
    return _gangs_governance(GOVERNANCE_PARTIES, flows)


FANOUT_FULL = ("HN", "SV")
"""The recipients of :func:`fanout_governance` that get GT's reports in full."""
FANOUT_RECIPIENTS = len(PARTIES) - 1
"""How many parties receive each of GT's reports under :func:`fanout_governance`."""


def fanout_governance() -> tuple[TestDirectory, Governance, HubSigner]:
    """All nine parties, one agreement ``gangs-ca``: GT's gang reports go to the eight
    others, :data:`FANOUT_FULL` in full and the six others in the ``no-persons`` view (the
    bench's fan-out row: what a report to the whole exchange costs the hub)."""
    flows = [
        {"from": "GT", "to": cc}
        if cc in FANOUT_FULL
        else {"from": "GT", "to": cc, "view": "no-persons"}
        for cc in PARTIES
        if cc != "GT"
    ]
    return _gangs_governance(PARTIES, flows)


def _gangs_governance(
    parties: tuple[str, ...], flows: list[dict[str, Any]]
) -> tuple[TestDirectory, Governance, HubSigner]:
    td = make_directory(parties=parties, themes=("gangs", "narcotics"))
    gangs = agreement(
        "gangs-ca",
        ["gangs"],
        ["gang_movement"],
        flows,
        parties=parties,
        views={"no-persons": NO_PERSONS},
    )
    gov = Governance(directory=td.directory, agreements=statuses(status(gangs)))
    return td, gov, HubSigner(td.keys[td.hub_kid], td.hub_kid)

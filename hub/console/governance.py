"""The governance page's logic: the directory and who signed it, the agreements and their state.

Read from the deployment's files with the same code as ``enlace agreements list`` and
``enlace directory`` (:mod:`schemas.trust`, :mod:`hub.policy.loader`): what ``enlace
reload`` would put in force now. Read-only: unlike the hub's own load it records no
accepted directory version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from hub.deployment import Deployment
from hub.policy.loader import AgreementStatus, load_agreements
from hub.policy.model import Flow
from schemas.common import Tlp, tlp_rank
from schemas.directory import Directory
from schemas.errors import GovernanceError
from schemas.govdoc import load_document
from schemas.trust import SignatureStatus, check_directory, load_trust_root, signature_status

__all__ = ["AgreementView", "GovernanceView", "governance_view"]


@dataclass(frozen=True)
class AgreementView:
    """One agreement: whether it is in force at the page's time, and if not the reason code."""

    status: AgreementStatus
    in_force: bool
    reason: str | None
    sentence: str

    @property
    def flows(self) -> list[Flow]:
        return list(self.status.agreement.flows)

    @property
    def views(self) -> dict[str, tuple[list[str], list[str]]]:
        """Each named view: the fields it drops and the numbers it rounds (``field:decimals``)."""
        return {
            name: (list(body.drop), [f"{r.field}:{r.decimals}" for r in body.round])
            for name, body in self.status.agreement.views.items()
        }


@dataclass
class GovernanceView:
    """What the page shows; ``problem`` says what could not be read (the rest still shows)."""

    at: datetime
    directory: Directory | None = None
    signatures: SignatureStatus | None = None
    agreements: list[AgreementView] = field(default_factory=list)
    problem: str | None = None

    @property
    def in_force(self) -> list[AgreementView]:
        return [a for a in self.agreements if a.in_force]

    @property
    def not_in_force(self) -> list[AgreementView]:
        return [a for a in self.agreements if not a.in_force]

    @property
    def highest_tlp(self) -> Tlp | None:
        """The most restricted TLP any agreement in force carries (None: nothing shared)."""
        tlps = [a.status.agreement.max_tlp for a in self.in_force]
        return max(tlps, key=tlp_rank) if tlps else None


def governance_view(deployment: Deployment, at: datetime) -> GovernanceView:
    """The directory's version and signatures and every agreement's state at ``at``.

    Args:
        deployment: whose governance files are read.
        at: the time agreements are judged at (validity windows, key validity).
    """
    view = GovernanceView(at=at)
    try:
        trust_root = load_trust_root(deployment.trust_root)
        doc = load_document(deployment.directory)
        view.signatures = signature_status(doc, trust_root, at)
        view.directory = check_directory(doc, trust_root, at=at)
        loaded = load_agreements(deployment.agreements_dir, view.directory, trust_root, at)
    except GovernanceError as exc:
        view.problem = exc.description
        return view
    except OSError as exc:
        view.problem = f"{type(exc).__name__}: {exc}"
        return view
    for status in loaded.statuses:
        in_force, reason, sentence = status.in_force_at(at)
        view.agreements.append(AgreementView(status, in_force, reason, sentence))
    return view

"""``enlace agreements explain``: for each party, does it receive a message, and why.

Built on :func:`hub.policy.decide.decide` (the very decision the hub makes), with the
sentence for each outcome and the state of every agreement that covers the message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.policy.decide import Decision, decide
from hub.policy.loader import AgreementSet
from hub.policy.requests import RequestMemory
from schemas.directory import Directory
from schemas.envelope import Envelope
from schemas.govdoc import rfc3339

__all__ = ["Explanation", "PartyOutcome", "explain"]


@dataclass(frozen=True)
class PartyOutcome:
    """One party's line of the explanation."""

    party: str
    role: str
    named_in_to: bool
    receives: bool
    view: str | None
    agreement: str | None
    flow: str | None
    reason: str | None
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "party": self.party,
            "role": self.role,
            "named_in_to": self.named_in_to,
            "receives": self.receives,
            "view": self.view,
            "agreement": self.agreement,
            "flow": self.flow,
            "reason": self.reason,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Explanation:
    """Why each party does or does not receive one message, at one time."""

    message_id: str
    sender: str
    theme: str
    type: str
    handling: str
    at: datetime
    outcomes: tuple[PartyOutcome, ...]
    agreements: tuple[dict[str, Any], ...]
    decision: Decision

    def to_dict(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "sender": self.sender,
            "theme": self.theme,
            "type": self.type,
            "handling": self.handling,
            "at": rfc3339(self.at),
            "undeliverable": self.decision.undeliverable,
            "parties": [o.to_dict() for o in self.outcomes],
            "agreements": list(self.agreements),
        }

    def lines(self) -> list[str]:
        """The explanation as text, one party per line."""
        out = [
            f"message {self.message_id}: {self.type} on {self.theme}, TLP:{self.handling.upper()}, "
            f"from {self.sender}, at {rfc3339(self.at)}"
        ]
        for o in self.outcomes:
            mark = "->" if o.receives else "x "
            if o.receives:
                text = f"receives view {o.view!r} under {o.agreement} flow {o.flow}"
            else:
                text = f"does not receive: {o.reason}: {o.detail}"
            tag = " (named in to)" if o.named_in_to else ""
            out.append(f"  {mark} {o.party}{tag}: {text}")
        if self.decision.undeliverable:
            out.append("  nobody receives this message (undeliverable)")
        if self.agreements:
            out.append("agreements covering this theme and type:")
            for a in self.agreements:
                out.append(f"  {a['id']}: {a['state']}")
        else:
            out.append("no agreement covers this theme and type")
        return out


def explain(
    envelope: Envelope,
    agreements: AgreementSet,
    directory: Directory,
    at: datetime,
    requests: RequestMemory,
) -> Explanation:
    """Decide as the hub would, and say why for every party (and every ``to`` entry).

    Args:
        envelope: the message (signature and schema already checked).
        agreements: the loaded agreement set.
        directory: the parties.
        at: the time of the decision.
        requests: who sent each request, for replies.

    Returns:
        Each party's outcome (receives, in which view, or why not) and the decision itself.
    """
    decision = decide(envelope, agreements, directory, at, requests)
    to = set(envelope.to or ())
    outcomes: list[PartyOutcome] = []
    roles = {p.code: p.role.value for p in directory.parties}
    for cc in sorted({*directory.party_codes, *to}):
        role = roles.get(cc, "unknown")
        route = decision.route_for(cc)
        if route is not None:
            outcomes.append(
                PartyOutcome(
                    cc,
                    role,
                    cc in to,
                    True,
                    route.view_name,
                    route.agreement,
                    route.flow_name,
                    None,
                    f"{route.agreement} flow {route.flow_name} allows view {route.view_name}",
                )
            )
            continue
        refusal = decision.refusal_for(cc)
        reason, detail = (refusal.reason, refusal.detail) if refusal else ("no_agreement", "")
        outcomes.append(PartyOutcome(cc, role, cc in to, False, None, None, None, reason, detail))
    covering = []
    for status in agreements.covering(envelope.theme.value, envelope.type):
        in_force, code, detail = status.in_force_at(at)
        covering.append(
            {
                "id": status.id,
                "in_force": in_force,
                "reason": code,
                "state": detail,
                "max_tlp": status.agreement.max_tlp.value,
            }
        )
    return Explanation(
        message_id=envelope.id,
        sender=envelope.sender.country,
        theme=envelope.theme.value,
        type=envelope.type,
        handling=envelope.handling.value,
        at=at,
        outcomes=tuple(outcomes),
        agreements=tuple(covering),
        decision=decision,
    )

"""The decision: which parties receive an accepted message, in which view, and why not.

Deny by default. A party receives a message only when an agreement in force has a flow
from the sender to that party for the message's theme and type, and the message's TLP is
at most the agreement's ``max_tlp``; it receives the richest view any such flow allows.
Before agreements are even looked at:

- the sender never receives its own message (``sender_self``);
- a reply (``in_reply_to`` on a reply type, or on any message answering a request the hub
  remembers) goes only to the requester (``reply_not_requester``);
- ``to`` narrows the recipients, never widens them (``not_in_to``);
- TLP:RED goes only to countries named in ``to`` (``not_in_to``).

The result does not depend on the order of the agreements: when two flows give views
equally rich, the one of the smallest agreement id (then flow index) wins.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub.policy.loader import AgreementSet, AgreementStatus
from hub.policy.model import REQUESTER, Agreement, ViewSpec
from hub.policy.requests import REPLY_TYPES, RequestMemory
from schemas.common import Tlp, tlp_rank
from schemas.directory import Directory, PartyRole
from schemas.envelope import Envelope

__all__ = ["REASONS", "Decision", "Refusal", "Route", "decide", "resolve_ends"]

REASONS: dict[str, str] = {
    "sender_self": "the sender never receives its own message",
    "reply_not_requester": "a reply goes only to the country that sent the request",
    "unknown_request": "a reply to a request the hub does not know goes nowhere",
    "not_in_to": "the message's `to` does not name this country",
    "tlp_red_not_in_to": "TLP:RED goes only to countries named in the message's `to`",
    "unknown_party": "not a party in the directory",
    "tlp_too_high": "the message's TLP is above the agreement's max_tlp",
    "not_signed": "the agreement is not signed by every party it names",
    "not_yet_valid": "the agreement is not in force yet",
    "expired": "the agreement has expired",
    "no_agreement": "no agreement has a flow from the sender to this country for this type",
    "not_amended_recipient": "a correction or retraction goes only to the parties that "
    "received the message it amends",
}
"""Every reason code a :class:`Refusal` may carry, with what it means."""

# When several agreements cover a flow but none may carry the message, the reason of the
# one nearest to allowing it is reported (an agreement in force beats one that is not).
_NEAREST_FIRST = ("tlp_too_high", "not_yet_valid", "expired", "not_signed")


@dataclass(frozen=True)
class Route:
    """One delivery: ``recipient`` gets ``view`` under ``agreement``'s flow ``flow``."""

    recipient: str
    view: ViewSpec
    agreement: str
    flow: int
    flow_name: str

    @property
    def view_name(self) -> str:
        return self.view.name

    def to_dict(self) -> dict[str, Any]:
        return {
            "recipient": self.recipient,
            "view": self.view.name,
            "agreement": self.agreement,
            "flow": self.flow,
            "flow_name": self.flow_name,
        }


@dataclass(frozen=True)
class Refusal:
    """A party that does not receive the message: a reason code and a sentence."""

    recipient: str
    reason: str
    detail: str
    agreements: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "recipient": self.recipient,
            "reason": self.reason,
            "detail": self.detail,
            "agreements": list(self.agreements),
        }


@dataclass(frozen=True)
class Decision:
    """The outcome for one message.

    Attributes:
        recipients: who receives it, in which view, under which agreement and flow.
        refused: countries the sender named in ``to`` that do not receive it (reported
            back to the sender), and ``to`` entries that are not parties.
        excluded: every other party that does not receive it, with why (for audit and
            ``explain``; not reported to the sender).
    """

    message_id: str
    recipients: list[Route] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    excluded: list[Refusal] = field(default_factory=list)

    @property
    def undeliverable(self) -> bool:
        """Accepted, but nobody receives it."""
        return not self.recipients

    def nobody_because(self) -> tuple[Refusal, ...]:
        """Why nobody receives it: every other party's refusal (the sender's own left out)."""
        return tuple(r for r in (*self.refused, *self.excluded) if r.reason != "sender_self")

    def why_nobody(self) -> str:
        """A sentence for the sender of an undeliverable message: each reason, and whom it
        kept out (``TLP:RED goes only … (tlp_red_not_in_to: BZ, CR, …)``)."""
        groups: dict[str, list[Refusal]] = {}
        for refusal in self.nobody_because():
            groups.setdefault(refusal.reason, []).append(refusal)
        parts = []
        for code, refusals in groups.items():
            # One shared detail says it best (it names the request, the TLP…); details that
            # differ by country are summed up by the reason's own sentence.
            details = {r.detail for r in refusals}
            text = details.pop() if len(details) == 1 else REASONS.get(code, code)
            parts.append(f"{text} ({code}: {', '.join(r.recipient for r in refusals)})")
        return "; ".join(parts) or "the directory names no other party"

    def route_for(self, cc: str) -> Route | None:
        return next((r for r in self.recipients if r.recipient == cc), None)

    def refusal_for(self, cc: str) -> Refusal | None:
        return next((r for r in (*self.refused, *self.excluded) if r.recipient == cc), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "undeliverable": self.undeliverable,
            "recipients": [r.to_dict() for r in self.recipients],
            "refused": [r.to_dict() for r in self.refused],
            "excluded": [r.to_dict() for r in self.excluded],
        }


def _members(directory: Directory) -> frozenset[str]:
    return frozenset(p.code for p in directory.parties if p.role == PartyRole.MEMBER)


def resolve_ends(
    ends: Iterable[str], agreement: Agreement, directory: Directory, requester: str | None
) -> frozenset[str]:
    """The countries a flow end names, always inside the agreement's parties.

    ``members`` and ``all`` are the directory's member parties (observers must be named),
    ``sica`` the members other than US, ``requester`` the country whose request a reply
    answers (nobody when the message is not such a reply).

    Args:
        ends: the flow's ``from`` or ``to`` entries (country codes or group names).
        agreement: the agreement the flow belongs to.
        directory: the parties; groups resolve against it.
        requester: the country whose request the message answers, if it is a reply.

    Returns:
        The countries named, each a party of ``agreement``.
    """
    parties = frozenset(agreement.parties)
    members = _members(directory)
    out: set[str] = set()
    for end in ends:
        if end in ("members", "all"):
            out |= members
        elif end == "sica":
            out |= members - {"US"}
        elif end == REQUESTER:
            if requester is not None:
                out.add(requester)
        else:
            out.add(end)
    return frozenset(out & parties)


@dataclass(frozen=True)
class _ResolvedFlow:
    """A flow with its ends read against one directory (``requester`` kept apart)."""

    index: int
    types: frozenset[str]
    senders: frozenset[str]
    recipients: frozenset[str]
    to_requester: bool
    view: ViewSpec
    rank: tuple[int, ...]


def _resolve_flows(status: AgreementStatus, directory: Directory) -> tuple[_ResolvedFlow, ...]:
    a = status.agreement
    flows = []
    for i, flow in enumerate(a.flows):
        view = a.view(flow.view)
        flows.append(
            _ResolvedFlow(
                index=i,
                types=frozenset(flow.types if flow.types is not None else a.types),
                senders=resolve_ends(flow.from_, a, directory, None),
                recipients=resolve_ends(flow.to, a, directory, None),
                to_requester=REQUESTER in flow.to,
                view=view,
                rank=tuple(-x for x in view.richness()),
            )
        )
    return tuple(flows)


def _flows(status: AgreementStatus, directory: Directory) -> tuple[_ResolvedFlow, ...]:
    # Groups depend on the directory's parties and roles only: that is the cache key.
    key = ("flows", tuple((p.code, p.role) for p in directory.parties))
    flows: tuple[_ResolvedFlow, ...] = status.memo(key, lambda: _resolve_flows(status, directory))
    return flows


@dataclass
class _Reach:
    """What the covering agreements say about one candidate recipient."""

    best: tuple[tuple[Any, ...], AgreementStatus, _ResolvedFlow] | None = None
    failures: dict[str, list[str]] = field(default_factory=dict)
    tried: list[str] = field(default_factory=list)


def _reach(
    envelope: Envelope,
    covering: tuple[AgreementStatus, ...],
    directory: Directory,
    at: datetime,
    requester: str | None,
) -> dict[str, _Reach]:
    """For every party some covering flow reaches from the sender: the best route or why not."""
    sender = envelope.sender.country
    reach: dict[str, _Reach] = {}
    for status in covering:
        a = status.agreement
        parties = a.parties
        targets: dict[str, list[_ResolvedFlow]] = {}
        for flow in _flows(status, directory):
            if envelope.type not in flow.types or sender not in flow.senders:
                continue
            for cc in flow.recipients:
                targets.setdefault(cc, []).append(flow)
            if flow.to_requester and requester is not None and requester in parties:
                targets.setdefault(requester, []).append(flow)
        if not targets:
            continue
        in_force, code, detail = status.in_force_at(at)
        if in_force and tlp_rank(envelope.handling) > tlp_rank(a.max_tlp):
            code = "tlp_too_high"
            detail = (
                f"TLP:{envelope.handling.value.upper()} is above {a.id!r}'s max_tlp "
                f"{a.max_tlp.value}"
            )
            in_force = False
        for cc, flows in targets.items():
            entry = reach.setdefault(cc, _Reach())
            entry.tried.append(a.id)
            if not in_force:
                entry.failures.setdefault(code or "not_signed", []).append(detail)
                continue
            for flow in flows:
                key = (flow.rank, a.id, flow.index)
                if entry.best is None or key < entry.best[0]:
                    entry.best = (key, status, flow)
    return reach


def _outcome(cc: str, envelope: Envelope, entry: _Reach | None) -> Route | Refusal:
    if entry is not None and entry.best is not None:
        _key, status, flow = entry.best
        a = status.agreement
        return Route(cc, flow.view, a.id, flow.index, a.flow_label(flow.index))
    if entry is not None:
        for code in _NEAREST_FIRST:
            if code in entry.failures:
                return Refusal(cc, code, "; ".join(entry.failures[code]), tuple(entry.tried))
    return Refusal(
        cc,
        "no_agreement",
        f"no agreement has a flow from {envelope.sender.country} to {cc} for "
        f"{envelope.theme.value}/{envelope.type}",
    )


def decide(
    envelope: Envelope,
    agreements: AgreementSet,
    directory: Directory,
    at: datetime,
    requests: RequestMemory,
) -> Decision:
    """Decide who receives ``envelope`` and in which view.

    A message that answers none (no ``in_reply_to``) is decided by its sender, theme, type,
    TLP and ``to`` alone, given the directory and which covering agreements are in force
    at ``at``: that decision is kept in the agreement set (:data:`_KEPT` at most) and
    given again, under the new message's id, to the next message that has the same.

    Args:
        envelope: the accepted message (signature and schema already checked).
        agreements: the loaded agreement set (in force or not; checked at ``at``).
        directory: the parties; groups resolve against it.
        at: the time of the decision (the hub's receive time).
        requests: who sent each request, for replies.

    Returns:
        The recipients with their views, the ``to`` entries refused, the others excluded.
    """
    if envelope.in_reply_to is not None:  # the requests remembered decide too
        return _decide(envelope, agreements, directory, at, requests)
    covering = agreements.covering(envelope.theme.value, envelope.type)
    key = (
        envelope.sender.country,
        envelope.theme.value,
        envelope.type,
        envelope.handling,
        frozenset(envelope.to) if envelope.to else None,
        tuple(status.not_in_force_code(at) for status in covering),
    )
    kept = agreements.decisions
    found = kept.get(key)
    # The directory is kept with the decision: compared by identity, it cannot be another
    # one at the same address while the cache holds it.
    if found is not None and found[0] is directory:
        made: Decision = found[1]
        return Decision(envelope.id, [*made.recipients], [*made.refused], [*made.excluded])
    decision = _decide(envelope, agreements, directory, at, requests)
    if len(kept) >= _KEPT:
        kept.clear()
    kept[key] = (directory, decision)
    return decision


_KEPT = 4096
"""Decisions an agreement set keeps (a sender's every ``to`` list is a key of its own)."""


def _decide(
    envelope: Envelope,
    agreements: AgreementSet,
    directory: Directory,
    at: datetime,
    requests: RequestMemory,
) -> Decision:
    sender = envelope.sender.country
    to = set(envelope.to) if envelope.to else None
    requester: str | None = None
    reply_only = False
    if envelope.in_reply_to is not None:
        requester = requests.requester_of(envelope.in_reply_to)
        reply_only = envelope.type in REPLY_TYPES or requester is not None
    covering = agreements.covering(envelope.theme.value, envelope.type)
    reach = _reach(envelope, covering, directory, at, requester)
    decision = Decision(envelope.id)
    for cc in sorted(directory.party_codes):
        outcome: Route | Refusal
        if cc == sender:
            outcome = Refusal(cc, "sender_self", REASONS["sender_self"])
        elif reply_only and cc != requester:
            if requester is None:
                outcome = Refusal(
                    cc,
                    "unknown_request",
                    f"{envelope.type} answers {envelope.in_reply_to}, a request the hub "
                    "does not know; it goes to nobody",
                )
            else:
                outcome = Refusal(
                    cc,
                    "reply_not_requester",
                    f"a reply to {envelope.in_reply_to} goes only to the requester {requester}",
                )
        elif to is not None and cc not in to:
            outcome = Refusal(cc, "not_in_to", REASONS["not_in_to"])
        elif envelope.handling == Tlp.RED and to is None:
            outcome = Refusal(cc, "tlp_red_not_in_to", REASONS["tlp_red_not_in_to"])
        else:
            outcome = _outcome(cc, envelope, reach.get(cc))
        if isinstance(outcome, Route):
            decision.recipients.append(outcome)
        elif to is not None and cc in to:
            decision.refused.append(outcome)
        else:
            decision.excluded.append(outcome)
    known = set(directory.party_codes)
    for cc in sorted((to or set()) - known):
        decision.refused.append(Refusal(cc, "unknown_party", f"{cc} is {REASONS['unknown_party']}"))
    return decision

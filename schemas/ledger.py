"""The originator's delivery ledger: what became of a sent message at each party.

For each message a country sent, the hub keeps its :class:`~schemas.outcomes.Outcome`
(who it was routed to, in which view, who not and why) and, as each recipient's sink
receipts it, one :class:`LedgerReceipt` per recipient and sink on
:func:`~schemas.subjects.ledger_subject` (the last one per sink: a dead letter replayed
and then written becomes ``delivered``). Both sit in the sender's ``OUTCOMES_<cc>``, which
only the sender's login may read: a sender learns of its own message what it reached, and
nothing of what the agreements between other parties allow. :class:`Ledger` puts the two
together, one :class:`LedgerRow` per party.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from schemas.govdoc import rfc3339
from schemas.outcomes import Outcome

__all__ = ["Ledger", "LedgerReceipt", "LedgerRow"]

PartyState = Literal["delivered", "dead_lettered", "awaiting_receipt", "not_routed"]


class LedgerReceipt(BaseModel):
    """One recipient sink's receipt of a message, as the hub recorded it for the sender."""

    model_config = ConfigDict(frozen=True)

    message_id: str
    recipient: str
    sink: str
    view: str = Field(description="'full', or the name of the redaction it received")
    status: Literal["delivered", "dead_lettered"]
    reason: str = Field(default="", description="reason code of a dead letter")
    receipted_at: datetime = Field(description="when the sink says it wrote it")
    recorded_at: datetime = Field(description="when the hub received the signed receipt")
    receipt_digest: str = Field(description="sha256 of the signed receipt (on the audit log)")

    @field_serializer("receipted_at", "recorded_at")
    def _time_on_the_wire(self, at: datetime) -> str:
        return rfc3339(at)

    def to_json(self) -> bytes:
        """The bytes on the wire: keys sorted, UTF-8."""
        return json.dumps(self.model_dump(mode="json"), ensure_ascii=False, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> LedgerReceipt:
        """Read one ledger entry.

        Raises:
            ValueError: ``data`` is not one (pydantic's ``ValidationError``).
        """
        return cls.model_validate_json(data)


class LedgerRow(BaseModel):
    """One party's line of the ledger."""

    model_config = ConfigDict(frozen=True)

    country: str
    state: PartyState
    view: str = ""
    agreement: str = ""
    reason: str = Field(default="", description="why not routed, or why dead-lettered")
    receipts: tuple[LedgerReceipt, ...] = ()


class Ledger(BaseModel):
    """A sent message's outcome and every receipt of it, one row per party."""

    model_config = ConfigDict(frozen=True)

    outcome: Outcome
    receipts: tuple[LedgerReceipt, ...] = ()

    def rows(self) -> list[LedgerRow]:
        """Each party routed to (with its receipts, or awaiting one), then each not."""
        rows = []
        for routed in self.outcome.recipients:
            theirs = tuple(
                sorted(
                    (r for r in self.receipts if r.recipient == routed.country),
                    key=lambda r: r.sink,
                )
            )
            state: PartyState = "awaiting_receipt"
            reason = ""
            if theirs:
                dead = [r for r in theirs if r.status == "dead_lettered"]
                state = "dead_lettered" if dead else "delivered"
                reason = dead[0].reason if dead else ""
            rows.append(
                LedgerRow(
                    country=routed.country,
                    state=state,
                    view=routed.view,
                    agreement=routed.agreement,
                    reason=reason,
                    receipts=theirs,
                )
            )
        rows += [
            LedgerRow(country=r.country, state="not_routed", reason=r.reason)
            for r in self.outcome.refused
        ]
        return rows

    def to_dict(self) -> dict[str, Any]:
        """The ledger for scripts: the outcome, then one row per party."""
        return {
            "message_id": self.outcome.message_id,
            "status": self.outcome.status.value,
            "outcome": self.outcome.to_dict(),
            "parties": [row.model_dump(mode="json") for row in self.rows()],
        }

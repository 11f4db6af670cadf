"""What the hub tells a sender about its message: outcomes and notices, as JSON.

Every message gets an :class:`Outcome` on ``enlace.outcome.<cc>`` (core NATS; what
``enlace publish`` waits for). A refused, undeliverable or partly refused message also
gets a notice on ``enlace.rejected.<cc>`` (stream REJECTED, kept)::

    {"message_id": "01J…", "status": "rejected", "reason": "bad_signature",
     "description": "…a sentence for people…", "refused": [{"country": "US",
     "reason": "no_agreement"}], "recipients": [], "at": "2026-…Z"}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from schemas.govdoc import rfc3339

__all__ = ["Outcome", "OutcomeStatus", "RecipientView", "RefusedRecipient"]


class OutcomeStatus(StrEnum):
    ACCEPTED = "accepted"  # delivered to every country the agreements allow
    PARTIAL = "partial"  # accepted, but some countries named in `to` are refused
    UNDELIVERABLE = "undeliverable"  # accepted, but no agreement lets it reach anyone
    REJECTED = "rejected"  # refused: quarantined, delivered to nobody


@dataclass(frozen=True)
class RecipientView:
    country: str
    view: str
    agreement: str


@dataclass(frozen=True)
class RefusedRecipient:
    country: str
    reason: str
    detail: str = ""


@dataclass(frozen=True)
class Outcome:
    """What became of one message; serialized as the notice / outcome JSON."""

    message_id: str
    status: OutcomeStatus
    at: datetime
    reason: str = ""
    description: str = ""
    recipients: tuple[RecipientView, ...] = ()
    refused: tuple[RefusedRecipient, ...] = field(default_factory=tuple)

    @property
    def is_notice(self) -> bool:
        """Whether the sender also gets a kept notice on ``enlace.rejected.<cc>``."""
        return self.status is not OutcomeStatus.ACCEPTED

    @property
    def accepted(self) -> bool:
        return self.status is not OutcomeStatus.REJECTED

    def to_dict(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "status": self.status.value,
            "reason": self.reason,
            "description": self.description,
            "recipients": [
                {"country": r.country, "view": r.view, "agreement": r.agreement}
                for r in self.recipients
            ],
            "refused": [
                {"country": r.country, "reason": r.reason, "detail": r.detail} for r in self.refused
            ],
            "at": rfc3339(self.at),
        }

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Outcome:
        """Parse an outcome or notice (raises ValueError/KeyError when it is not one)."""
        doc = json.loads(data)
        return cls(
            message_id=str(doc["message_id"]),
            status=OutcomeStatus(doc["status"]),
            at=datetime.fromisoformat(str(doc["at"]).replace("Z", "+00:00")),
            reason=str(doc.get("reason", "")),
            description=str(doc.get("description", "")),
            recipients=tuple(
                RecipientView(r["country"], r["view"], r["agreement"])
                for r in doc.get("recipients", [])
            ),
            refused=tuple(
                RefusedRecipient(r["country"], r["reason"], r.get("detail", ""))
                for r in doc.get("refused", [])
            ),
        )

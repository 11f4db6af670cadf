"""What the hub tells a sender about its message: the outcome (and notice) contract.

Every message gets an :class:`Outcome` on ``enlace.outcome.<cc>.<id>`` (what ``enlace
publish`` waits for), kept in stream ``OUTCOMES_<cc>`` for the sender's login to collect
later by id (``enlace outcome``). A refused, undeliverable or partly refused message also
gets the same JSON as a notice on ``enlace.rejected.<cc>`` (stream REJECTED, kept)::

    {"at": "2026-…Z", "description": "…a sentence for people…", "message_id": "01J…",
     "reason": "bad_signature", "recipients": [], "refused": [{"country": "US",
     "detail": "", "reason": "no_agreement"}], "status": "rejected"}

One model for everyone: the hub writes it (:meth:`Outcome.to_json`), the client reads it
(:meth:`Outcome.from_json`) and ``enlace schemas export`` publishes its JSON Schema
(:func:`schemas.export.asyncapi_document`). The bytes on the wire stay those consumers
already read: every field present (empty when there is nothing to say), keys sorted,
``", "`` and ``": "`` between them, UTF-8 unescaped, ``at`` in whole seconds with ``Z``.
A reader takes a document with fields left out (their defaults) or fields added.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from schemas.errors import REASON_CODES
from schemas.govdoc import rfc3339

__all__ = ["Outcome", "OutcomeStatus", "RecipientView", "RefusedRecipient"]

# One encoder (json.dumps with arguments builds a new one on every call).
_WIRE = json.JSONEncoder(ensure_ascii=False, sort_keys=True)

_REASON_CODES_TEXT = ", ".join(
    sorted(c for c in REASON_CODES if c not in ("error", "governance_error"))
)


class OutcomeStatus(StrEnum):
    """What became of a message, as its sender is told."""

    ACCEPTED = "accepted"  # delivered to every country the agreements allow
    PARTIAL = "partial"  # accepted, but some countries named in `to` are refused
    UNDELIVERABLE = "undeliverable"  # accepted, but nobody receives it (`refused`: why not)
    REJECTED = "rejected"  # refused: quarantined, delivered to nobody


class RecipientView(BaseModel):
    """One country the message was delivered to, in which view, under which agreement."""

    model_config = ConfigDict(frozen=True)

    country: str
    view: str = Field(description="'full', or the name of the redaction it received")
    agreement: str = Field(description="id of the sharing agreement it travelled under")


class RefusedRecipient(BaseModel):
    """One country the message was not delivered to, and why (a routing reason code)."""

    model_config = ConfigDict(frozen=True)

    country: str
    reason: str
    detail: str = ""


class Outcome(BaseModel):
    """What became of one message; the JSON of both the outcome and the notice."""

    model_config = ConfigDict(frozen=True)

    message_id: str = Field(description="the message's id, when readable")
    status: OutcomeStatus
    at: datetime = Field(description="when the hub decided (RFC 3339, UTC, whole seconds)")
    reason: str = Field(
        default="",
        description="reason code of a refusal: a message or signature code "
        f"({_REASON_CODES_TEXT}) or a routing code of the hub",
    )
    description: str = Field(default="", description="a sentence for people")
    recipients: tuple[RecipientView, ...] = ()
    refused: tuple[RefusedRecipient, ...] = Field(
        default=(),
        description="countries that do not receive it and why: those named in `to` "
        "(partial), or every other party (undeliverable)",
    )

    @field_serializer("at")
    def _at_on_the_wire(self, at: datetime) -> str:
        return rfc3339(at)

    @property
    def is_notice(self) -> bool:
        """Whether the sender also gets a kept notice on ``enlace.rejected.<cc>``."""
        return self.status is not OutcomeStatus.ACCEPTED

    @property
    def accepted(self) -> bool:
        """Accepted by the hub (delivered to all, some or none of the countries)."""
        return self.status is not OutcomeStatus.REJECTED

    def to_json(self) -> bytes:
        """The bytes on the wire (see the module docstring for their exact form)."""
        return _WIRE.encode(self.model_dump(mode="json")).encode()

    def to_dict(self) -> dict[str, Any]:
        """The wire form as a dict (JSON types, keys in wire order)."""
        doc: dict[str, Any] = json.loads(self.to_json())
        return doc

    @classmethod
    def from_json(cls, data: bytes | str) -> Outcome:
        """Read an outcome or notice.

        Raises:
            ValueError: ``data`` is not an outcome (pydantic's ``ValidationError``).
        """
        return cls.model_validate_json(data)

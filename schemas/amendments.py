"""Corrections and retractions: what in a message names the message it amends.

- A **correction** is a full, signed replacement: a message of the original's own type and
  theme whose envelope names the message it replaces in ``corrects``. A correction of a
  correction makes the next version.
- A **retraction** is a message of type ``retraction`` (:mod:`schemas.messages.retraction`)
  whose payload names the withdrawn message in ``original_id``, with a reason.

The hub routes both to exactly the parties that received the amended message, in the view
each received (:mod:`hub.pipeline.amendments`), and says so to the sinks in the headers
below; the body, signed by the sender, says the same (``corrects`` / ``original_id``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Final, Literal

from schemas.common import new_message_id
from schemas.envelope import Envelope
from schemas.govdoc import rfc3339
from schemas.message import new_message, parse_message

__all__ = [
    "CORRECTION",
    "HDR_AMENDMENT",
    "HDR_AMENDS",
    "HDR_ORIGINAL_ID",
    "HDR_VERSION",
    "HEADER_SCHEMAS",
    "RETRACTION",
    "AmendmentKind",
    "amended_id",
    "amendment_kind",
    "correction_of",
    "retraction_of",
]

AmendmentKind = Literal["correction", "retraction"]
CORRECTION: Final = "correction"
RETRACTION: Final = "retraction"

HDR_AMENDMENT = "Enlace-Amendment"  # "correction" or "retraction"
HDR_AMENDS = "Enlace-Amends"  # the id of the message corrected or withdrawn
HDR_ORIGINAL_ID = "Enlace-Original-Id"  # the first version of the chain
HDR_VERSION = "Enlace-Version"  # 1 for the original, 2 for its first correction, …


HEADER_SCHEMAS: dict[str, dict[str, Any]] = {
    HDR_AMENDMENT: {"type": "string", "enum": ["correction", "retraction"]},
    HDR_AMENDS: {"type": "string", "description": "The id of the message it amends."},
    HDR_ORIGINAL_ID: {"type": "string", "description": "The id of the chain's first version."},
    HDR_VERSION: {
        "type": "string",
        "description": "A correction's version (the original is 1); a retraction's: the "
        "version it withdraws.",
        "pattern": r"^[1-9][0-9]*$",
    },
}
"""The JSON Schema of each header above, for the AsyncAPI document's delivery headers."""


def amendment_kind(envelope: Envelope) -> AmendmentKind | None:
    """``correction``, ``retraction`` or None (a message that amends nothing)."""
    if envelope.type == RETRACTION:
        return RETRACTION
    return CORRECTION if envelope.corrects is not None else None


def amended_id(envelope: Envelope) -> str | None:
    """The id of the message ``envelope`` corrects or withdraws (None: it amends nothing)."""
    if envelope.type == RETRACTION:
        original = envelope.payload.get("original_id")
        return original if isinstance(original, str) else None
    return envelope.corrects


def correction_of(raw: bytes) -> dict[str, Any]:
    """The next version of the message ``raw`` (as sent): the same message with a fresh
    id, issued now, naming it in ``corrects``. Edit its payload, then sign and publish it.

    Raises:
        MessageError: ``raw`` is not a valid message (:func:`schemas.message.parse_message`).
    """
    sent = parse_message(raw, max_bytes=len(raw) + 1)
    message: dict[str, Any] = json.loads(raw)
    message.update(
        id=new_message_id(), issued_at=rfc3339(datetime.now(UTC)), corrects=sent.envelope.id
    )
    return message


def retraction_of(raw: bytes, reason: str, detail: str | None = None) -> dict[str, Any]:
    """A retraction of the message ``raw`` (as sent): from its sender, under its theme and
    TLP, naming it in ``original_id``.

    Args:
        raw: the message withdrawn, as it was sent.
        reason: why (:data:`schemas.messages.retraction.RETRACTION_REASONS`).
        detail: a sentence for the recipients, if any.

    Raises:
        MessageError: ``raw`` is not a valid message, or ``reason`` is not a known reason.
    """
    sent = parse_message(raw, max_bytes=len(raw) + 1).envelope
    payload: dict[str, Any] = {"original_id": sent.id, "reason": reason}
    if detail:
        payload["detail"] = detail
    return new_message(
        RETRACTION, sent.sender, sent.theme.value, sent.handling.value, payload=payload
    )

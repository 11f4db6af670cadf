"""Every theme: the withdrawal of a message its sender sent (a retraction).

A retraction names the message it withdraws (``original_id``) and why. The hub routes it
to exactly the parties that received that message (:mod:`hub.pipeline.amendments`); a
correction, the other amendment, is a message of the original's own type whose envelope
names the message it replaces (``corrects``, :mod:`schemas.amendments`).
"""

from __future__ import annotations

from typing import Literal

from schemas.common import MessageId, StrictModel
from schemas.messages.base import Text
from schemas.messages.spec import ALL_THEMES, MessageSpec

__all__ = ["RETRACTION_REASONS", "RETRACTION_V1", "RetractionV1"]

RETRACTION_REASONS = ("error", "source_withdrawn", "legal", "duplicate", "other")
"""Why a message is withdrawn: sent in error, its source withdrew it, a legal order, a
duplicate of another message, or another reason (say which in ``detail``)."""


class RetractionV1(StrictModel):
    """Retraction: the sender withdraws a message it sent; recipients stop using it."""

    original_id: MessageId
    reason: Literal["error", "source_withdrawn", "legal", "duplicate", "other"]
    detail: Text | None = None


RETRACTION_V1 = MessageSpec(
    type="retraction",
    version=1,
    model=RetractionV1,
    themes=ALL_THEMES,
    example={
        "original_id": "01JD5Z8Q4M7X2V9K3N6P0R1S2T",
        "reason": "error",
        "detail": "The seizure was reported twice; the report of 2026-11-30 stands.",
    },
)

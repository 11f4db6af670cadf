"""What a delivery amends, for the sinks that apply corrections and retractions.

The hub marks each delivery of a correction or retraction with headers
(:mod:`schemas.amendments`): which kind, the message it amends, the first version of the
chain and the version. The body, signed by the sender, names the amended message too
(``corrects``, or a retraction's ``original_id``); a delivery whose headers and body
disagree is refused (``amendment_mismatch``) rather than applied to the wrong row or file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapters.delivery import Delivery
from adapters.errors import PermanentSinkError
from schemas.amendments import (
    CORRECTION,
    HDR_AMENDMENT,
    HDR_AMENDS,
    HDR_ORIGINAL_ID,
    HDR_VERSION,
    RETRACTION,
)

__all__ = ["SinkAmendment", "amendment_of"]


@dataclass(frozen=True)
class SinkAmendment:
    """A delivery's amendment of an earlier message.

    Attributes:
        kind: ``correction`` or ``retraction``.
        amends: the id of the message corrected or withdrawn.
        original: the first version of the chain (``amends`` when the hub did not say).
        version: a correction's version; a retraction: the version it withdraws (None:
            the hub did not say).
    """

    kind: str
    amends: str
    original: str
    version: int | None

    def headers(self) -> dict[str, str]:
        """The amendment as the hub's headers (a webhook passes them on)."""
        found = {
            HDR_AMENDMENT: self.kind,
            HDR_AMENDS: self.amends,
            HDR_ORIGINAL_ID: self.original,
        }
        if self.version is not None:
            found[HDR_VERSION] = str(self.version)
        return found

    def record(self) -> dict[str, Any]:
        """The amendment as JSON fields (a marker file, a line, metadata)."""
        return {
            "amendment": self.kind,
            "amends": self.amends,
            "original_id": self.original,
            "revision": self.version,
        }


def _named_in_body(message: dict[str, Any]) -> tuple[str, str] | None:
    if message.get("type") == RETRACTION:
        payload = message.get("payload")
        original = payload.get("original_id") if isinstance(payload, dict) else None
        return (RETRACTION, original) if isinstance(original, str) else None
    corrects = message.get("corrects")
    return (CORRECTION, corrects) if isinstance(corrects, str) else None


def amendment_of(delivery: Delivery) -> SinkAmendment | None:
    """The amendment ``delivery`` carries, or None (it amends nothing).

    Raises:
        PermanentSinkError: the hub's headers and the signed body name different
            messages or kinds (``amendment_mismatch``).
    """
    named = _named_in_body(delivery.message)
    headers = delivery.headers
    marked = (headers.get(HDR_AMENDMENT), headers.get(HDR_AMENDS))
    if named is None and marked == (None, None):
        return None
    if named is None or (marked != (None, None) and marked != named):
        raise PermanentSinkError(
            f"delivery {delivery.message_id}: the hub's headers say {marked[0]} of "
            f"{marked[1]}, its signed body says {named[0] if named else 'nothing'} of "
            f"{named[1] if named else 'nothing'}; it is not applied",
            reason="amendment_mismatch",
        )
    version = headers.get(HDR_VERSION, "")
    return SinkAmendment(
        kind=named[0],
        amends=named[1],
        original=headers.get(HDR_ORIGINAL_ID) or named[1],
        version=int(version) if version.isascii() and version.isdigit() else None,
    )

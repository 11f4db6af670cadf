"""The quarantine copy of a refused message: its exact bytes, its headers and the reason.

Published on ``enlace.quarantine.<cc>`` (stream QUARANTINE) with the original headers
(except ``Nats-Msg-Id``, replaced so that a redelivery is not quarantined twice) and:

- ``Enlace-Reason``: the reason code;
- ``Enlace-Reason-Description``: the sentence the sender's notice carries;
- ``Enlace-Ingress-Subject`` / ``Enlace-Ingress-Seq``: where the message came in;
- ``Enlace-Original-Msg-Id``: the ``Nats-Msg-Id`` it came with, if any.
"""

from __future__ import annotations

from schemas.subjects import HDR_MSG_ID, HDR_REASON, quarantine_subject

__all__ = [
    "HDR_INGRESS_SEQ",
    "HDR_INGRESS_SUBJECT",
    "HDR_ORIGINAL_MSG_ID",
    "HDR_REASON_DESCRIPTION",
    "quarantine_record",
]

HDR_REASON_DESCRIPTION = "Enlace-Reason-Description"
HDR_INGRESS_SUBJECT = "Enlace-Ingress-Subject"
HDR_INGRESS_SEQ = "Enlace-Ingress-Seq"
HDR_ORIGINAL_MSG_ID = "Enlace-Original-Msg-Id"


def _header_safe(text: str, limit: int = 1000) -> str:
    # Header values are one line; a reason sentence may quote hostile input.
    return " ".join(text.split())[:limit]


def quarantine_record(
    cc: str,
    ingress_subject: str,
    ingress_seq: int,
    headers: dict[str, str],
    reason: str,
    description: str,
) -> tuple[str, dict[str, str]]:
    """The subject and headers of the quarantine copy (its body is the raw bytes)."""
    out = {k: v for k, v in headers.items() if k != HDR_MSG_ID}
    if HDR_MSG_ID in headers:
        out[HDR_ORIGINAL_MSG_ID] = _header_safe(headers[HDR_MSG_ID], 200)
    out.update(
        {
            HDR_MSG_ID: f"in{ingress_seq}:quarantine",
            HDR_REASON: reason,
            HDR_REASON_DESCRIPTION: _header_safe(description),
            HDR_INGRESS_SUBJECT: _header_safe(ingress_subject, 300),
            HDR_INGRESS_SEQ: str(ingress_seq),
        }
    )
    return quarantine_subject(cc), out

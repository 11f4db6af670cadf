"""The quarantine copy of a refused message: its exact bytes, its headers and the reason.

Published on ``enlace.quarantine.<cc>`` (stream QUARANTINE) with the original headers
(except ``Nats-Msg-Id``, replaced so that a redelivery is not quarantined twice) and:

- ``Enlace-Reason``: the reason code;
- ``Enlace-Reason-Description``: the sentence the sender's notice carries;
- ``Enlace-Ingress-Subject`` / ``Enlace-Ingress-Stream`` / ``Enlace-Ingress-Seq``: where
  the message came in (the stream is the sender's ``INGRESS_<cc>``);
- ``Enlace-Original-Msg-Id``: the ``Nats-Msg-Id`` it came with, if any.

A copy must fit in one NATS message (:func:`schemas.limits.wire_limit`), and the refused
message may have used all of it: then its original headers are left out
(``Enlace-Headers-Dropped``: how many bytes they were) and, if the body alone is too large
still (a message far over the size limit), only its first bytes are kept
(``Enlace-Truncated``: its full size; the audit entry holds the digest of all of it).
"""

from __future__ import annotations

from hub.pipeline.checks import ingress_ref
from schemas.limits import headers_size
from schemas.subjects import HDR_MSG_ID, HDR_REASON, header_line, quarantine_subject

__all__ = [
    "HDR_HEADERS_DROPPED",
    "HDR_INGRESS_SEQ",
    "HDR_INGRESS_STREAM",
    "HDR_INGRESS_SUBJECT",
    "HDR_ORIGINAL_MSG_ID",
    "HDR_REASON_DESCRIPTION",
    "HDR_TRUNCATED",
    "quarantine_record",
]

HDR_REASON_DESCRIPTION = "Enlace-Reason-Description"
HDR_INGRESS_SUBJECT = "Enlace-Ingress-Subject"
HDR_INGRESS_STREAM = "Enlace-Ingress-Stream"
HDR_INGRESS_SEQ = "Enlace-Ingress-Seq"
HDR_ORIGINAL_MSG_ID = "Enlace-Original-Msg-Id"
HDR_HEADERS_DROPPED = "Enlace-Headers-Dropped"
HDR_TRUNCATED = "Enlace-Truncated"


def quarantine_record(
    cc: str,
    ingress: tuple[str, str, int],
    headers: dict[str, str],
    body: bytes,
    refusal: tuple[str, str],
    limit: int,
) -> tuple[str, bytes, dict[str, str]]:
    """The subject, body and headers of the quarantine copy of a refused message.

    Args:
        cc: the sender's country token (``XX`` when unreadable).
        ingress: where it came in: subject, stream and sequence.
        headers: the headers it came with.
        body: its bytes.
        refusal: the reason code and the sentence for the sender.
        limit: the largest NATS message (:func:`schemas.limits.wire_limit`).
    """
    subject, stream, seq = ingress
    reason, description = refusal
    ours = {
        HDR_MSG_ID: f"{ingress_ref(stream, seq)}:quarantine",
        HDR_REASON: reason,
        HDR_REASON_DESCRIPTION: header_line(description, 1000),
        HDR_INGRESS_SUBJECT: header_line(subject, 300),
        HDR_INGRESS_STREAM: header_line(stream, 100),
        HDR_INGRESS_SEQ: str(seq),
    }
    kept = {k: v for k, v in headers.items() if k != HDR_MSG_ID}
    if HDR_MSG_ID in headers:
        kept[HDR_ORIGINAL_MSG_ID] = header_line(headers[HDR_MSG_ID], 200)
    out = {**kept, **ours}
    if headers_size(out) + len(body) > limit:
        out = {**ours, HDR_HEADERS_DROPPED: str(headers_size(headers))}
    if headers_size(out) + len(body) > limit:
        out[HDR_TRUNCATED] = str(len(body))
        body = body[: max(0, limit - headers_size(out))]
    return quarantine_subject(cc), body, out

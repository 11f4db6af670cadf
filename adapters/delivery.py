"""A delivery from the hub, as a sink sees it: parsed from a NATS message and verified.

A delivery on ``enlace.out.<cc>.<theme>.<type>`` carries the bytes for recipient ``cc``
and, in headers, everything needed to check them without trusting the hub's transport:

- full view: the body is the sender's exact bytes; ``Enlace-Signature`` is the sender
  POC's detached JWS over them, checked against the directory (key, validity, sender);
- redacted view: the body is the hub's rendering; ``Enlace-Countersignature`` is the
  hub's JWS binding the original's digest to this view's bytes.

Nothing is written into a national system before :func:`verify_delivery` passes. A
recipient checks what a sink wrote the same way, later (:mod:`adapters.received`): every
sink keeps the body and :meth:`Delivery.metadata`, including when the hub published it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from adapters.errors import MalformedDelivery, TamperedDelivery
from schemas.countersign import sha256_digest, verify_countersignature
from schemas.directory import Directory
from schemas.envelope import DEFAULT_MAX_BYTES, parse_envelope
from schemas.errors import EnlaceError
from schemas.subjects import (
    HDR_AGREEMENT,
    HDR_COUNTERSIGNATURE,
    HDR_MSG_ID,
    HDR_ORIGINAL_DIGEST,
    HDR_RECIPIENT,
    HDR_SIGNATURE,
    HDR_VIEW,
)

__all__ = [
    "FULL_VIEW",
    "Delivery",
    "DeliveryCheck",
    "instant",
    "parse_delivery",
    "verify_delivery",
]

FULL_VIEW = "full"


def instant(value: datetime) -> str:
    """RFC 3339 UTC keeping the fraction of a second: a key's validity may start within
    the second a delivery was published, so rounding could make it look unsigned."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Delivery:
    """One message for one recipient, as the hub published it on DELIVERY.

    Attributes:
        message_id: the sender's message id.
        recipient: the country this delivery is for.
        subject: the NATS subject it came on.
        view: ``full`` or the name of a redaction.
        body: the exact bytes to write.
        signature: the sender's detached JWS over the original bytes.
        countersignature: the hub's JWS over a redacted view (None for ``full``).
        original_digest: ``sha256:<hex>`` of the original message bytes.
        agreement: the agreement under which it travels.
        message: the body parsed as JSON (for sinks that store columns).
        headers: every header as received (for dead letters and replays).
        published_at: when the hub published it on DELIVERY (JetStream's timestamp): the
            time its signatures are checked at, then and later.
    """

    message_id: str
    recipient: str
    subject: str
    view: str
    body: bytes
    signature: str
    countersignature: str | None
    original_digest: str
    agreement: str | None
    message: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    published_at: datetime | None = None

    @property
    def digest(self) -> str:
        """``sha256:<hex>`` of the body: what a receipt says was written."""
        return sha256_digest(self.body)

    @property
    def is_full(self) -> bool:
        return self.view == FULL_VIEW

    @property
    def theme(self) -> str:
        return self.subject.split(".")[3]

    @property
    def type(self) -> str:
        return self.subject.split(".")[4]

    def metadata(self) -> dict[str, str | None]:
        """What a sink records beside the body: routing, digests, signatures and the time
        the hub published it; with the body, all a recipient needs to verify it later."""
        published = instant(self.published_at) if self.published_at else None
        return {
            "id": self.message_id,
            "recipient": self.recipient,
            "subject": self.subject,
            "view": self.view,
            "agreement": self.agreement,
            "original_digest": self.original_digest,
            "digest": self.digest,
            "signature": self.signature,
            "countersignature": self.countersignature,
            "published_at": published,
        }


@dataclass(frozen=True)
class DeliveryCheck:
    """What :func:`verify_delivery` checked, for whoever reports it.

    Attributes:
        message_id: the message.
        recipient: the country the delivery is for.
        view: ``full`` or the redaction's name.
        checked: ``signature`` (the sender's, over the exact bytes: a full view) or
            ``countersignature`` (the hub's, over the view's digest and the original's).
        kid: the key that signed (the POC's, or the hub's).
        signer: the point of contact, or ``hub``.
        digest: ``sha256:<hex>`` of the bytes checked (the view's, for a redaction).
        original_digest: ``sha256:<hex>`` of the original the sender signed.
    """

    message_id: str
    recipient: str
    view: str
    checked: str
    kid: str
    signer: str
    digest: str
    original_digest: str

    def to_dict(self) -> dict[str, str]:
        return {
            "id": self.message_id,
            "recipient": self.recipient,
            "view": self.view,
            "checked": self.checked,
            "kid": self.kid,
            "signer": self.signer,
            "digest": self.digest,
            "original_digest": self.original_digest,
        }


def parse_delivery(
    subject: str,
    headers: dict[str, str] | None,
    body: bytes,
    country: str,
    published_at: datetime | None = None,
) -> Delivery:
    """Read a DELIVERY message for ``country``.

    Args:
        subject: the subject it came on (``enlace.out.<cc>.<theme>.<type>``).
        headers: its NATS headers.
        body: its bytes.
        country: the country this sink delivers for.
        published_at: when the hub published it (JetStream's timestamp), if known.

    Returns:
        The delivery, not yet verified (see :func:`verify_delivery`).

    Raises:
        MalformedDelivery: naming what is off, with ``subject`` and (once read)
            ``message_id``.
    """
    headers = dict(headers or {})
    parts = subject.split(".")
    if len(parts) != 5 or parts[:2] != ["enlace", "out"]:
        raise MalformedDelivery(
            f"subject {subject!r} is not enlace.out.<cc>.<theme>.<type>", subject=subject
        )
    if parts[2] != country:
        raise MalformedDelivery(
            f"delivery on {subject} is for {parts[2]}, not {country}", subject=subject
        )
    recipient = headers.get(HDR_RECIPIENT, country)
    if recipient != country:
        raise MalformedDelivery(
            f"delivery on {subject} names recipient {recipient} in {HDR_RECIPIENT}",
            subject=subject,
        )
    try:
        message = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise MalformedDelivery(
            f"delivery on {subject}: the body is not JSON", subject=subject
        ) from None
    if not isinstance(message, dict) or not isinstance(message.get("id"), str):
        raise MalformedDelivery(
            f"delivery on {subject}: the body has no message id", subject=subject
        )
    message_id: str = message["id"]
    msg_id_header = headers.get(HDR_MSG_ID)
    if msg_id_header is not None and msg_id_header.split(":", 1)[0] != message_id:
        raise MalformedDelivery(
            f"delivery on {subject}: {HDR_MSG_ID} {msg_id_header!r} does not match "
            f"message id {message_id}",
            subject=subject,
            message_id=message_id,
        )
    missing = [h for h in (HDR_SIGNATURE, HDR_VIEW, HDR_ORIGINAL_DIGEST) if not headers.get(h)]
    if missing:
        raise MalformedDelivery(
            f"delivery {message_id} on {subject} lacks header(s) {', '.join(missing)}",
            subject=subject,
            message_id=message_id,
        )
    view = headers[HDR_VIEW]
    countersignature = headers.get(HDR_COUNTERSIGNATURE) or None
    if view != FULL_VIEW and countersignature is None:
        raise MalformedDelivery(
            f"delivery {message_id}: view {view!r} has no {HDR_COUNTERSIGNATURE}",
            subject=subject,
            message_id=message_id,
        )
    return Delivery(
        message_id=message_id,
        recipient=country,
        subject=subject,
        view=view,
        body=body,
        signature=headers[HDR_SIGNATURE],
        countersignature=countersignature,
        original_digest=headers[HDR_ORIGINAL_DIGEST],
        agreement=headers.get(HDR_AGREEMENT),
        message=message,
        headers=headers,
        published_at=published_at,
    )


def verify_delivery(
    delivery: Delivery,
    directory: Directory,
    at: datetime | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> DeliveryCheck:
    """Check the sender's signature (full view) or the hub's countersignature (a view).

    Args:
        delivery: what :func:`parse_delivery` read.
        directory: the accepted directory (keys of POCs and of the hub).
        at: when keys must have been valid: when the hub published the delivery, so that
            a backlog drained after a key rotation still verifies.
        max_bytes: the deployment's message size limit.

    Returns:
        What was checked: which signature, by which key, over which digest.

    Raises:
        TamperedDelivery: with ``reason`` = the failing check's code.
    """
    digest = sha256_digest(delivery.body)
    try:
        if delivery.is_full:
            if digest != delivery.original_digest:
                raise TamperedDelivery(
                    f"delivery {delivery.message_id}: the body's digest is not "
                    f"{HDR_ORIGINAL_DIGEST}; it is not what the sender signed",
                    reason="digest_mismatch",
                    subject=delivery.subject,
                    message_id=delivery.message_id,
                )
            envelope = parse_envelope(delivery.body, max_bytes)
            sender = directory.verify_message(delivery.body, delivery.signature, envelope, at)
            checked, kid, signer = "signature", sender.kid, sender.poc
        else:
            assert delivery.countersignature is not None  # parse_delivery ensures it
            checked, signer = "countersignature", "hub"
            kid = verify_countersignature(
                directory,
                delivery.countersignature,
                delivery.message_id,
                delivery.original_digest,
                delivery.recipient,
                delivery.view,
                delivery.body,
                at,
            )
    except TamperedDelivery:
        raise
    except EnlaceError as err:
        what = "signature" if delivery.is_full else "hub countersignature"
        raise TamperedDelivery(
            f"delivery {delivery.message_id} (view {delivery.view}): the {what} does not "
            f"hold: {err.description}",
            reason=err.code,
            subject=delivery.subject,
            message_id=delivery.message_id,
        ) from None
    return DeliveryCheck(
        delivery.message_id,
        delivery.recipient,
        delivery.view,
        checked,
        kid,
        signer,
        digest,
        delivery.original_digest,
    )

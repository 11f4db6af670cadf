"""Signed delivery receipts: what a country's sink says it did with a delivery.

A sink adapter publishes one receipt per delivery on ``enlace.receipt.<cc>`` (stream
RECEIPTS); the hub verifies it and records it in the audit log. The body is the canonical
JSON of :class:`Receipt`; ``Enlace-Signature`` carries a detached JWS over those bytes by
one of the recipient party's system keys (``Directory.parties[].keys``). A receipt holds
digests and metadata only, never payload content.

``delivery_seq`` names the DELIVERY stream message the receipt answers, so the hub can
check that it really delivered that message to that party, in that view, with those bytes.
It is optional here (receipts of older adapters lack it and still parse) and, being left
out of the canonical bytes when absent, does not change the bytes (or the signature) of
such a receipt; the hub refuses a receipt without it (``receipt_unchecked``).

Shared here because both the adapters (who sign) and the hub (who verifies) need it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import Field, ValidationError

from schemas.canonical import canonical_json
from schemas.common import CountryCode, StrictModel, UtcDatetime
from schemas.directory import Directory
from schemas.envelope import first_error
from schemas.errors import InvalidEnvelope, MalformedJson, SenderMismatch
from schemas.jws import sign_detached

__all__ = ["Receipt", "ReceiptStatus", "parse_receipt", "sign_receipt", "verify_receipt"]


class ReceiptStatus(StrEnum):
    DELIVERED = "delivered"  # written durably into the national system
    DEAD_LETTERED = "dead_lettered"  # refused (tampered, permanent error, retries exhausted)


class Receipt(StrictModel):
    """One delivery's outcome at the recipient's sink."""

    message_id: str = Field(min_length=1, max_length=100)
    recipient: CountryCode
    sink: str = Field(min_length=1, max_length=100)
    view: str = Field(min_length=1, max_length=100)
    digest: str = Field(pattern=r"^sha256:[0-9a-f]{64}$", description="of the bytes written")
    delivered_at: UtcDatetime
    status: ReceiptStatus = ReceiptStatus.DELIVERED
    reason: str | None = Field(None, max_length=100, description="reason code when refused")
    delivery_seq: int | None = Field(
        None, ge=1, description="DELIVERY stream sequence of the delivery this answers"
    )

    def to_bytes(self) -> bytes:
        return canonical_json(self.model_dump(mode="json", exclude_none=True))


def sign_receipt(receipt: Receipt, key: Ed25519PrivateKey, kid: str) -> tuple[bytes, str]:
    """The receipt's canonical bytes and a detached JWS over them by a party system key.

    Args:
        receipt: the receipt.
        key: the recipient party's system key.
        kid: that key's id in the directory.

    Returns:
        The receipt's bytes and their detached JWS.
    """
    raw = receipt.to_bytes()
    return raw, sign_detached(raw, key, kid)


def parse_receipt(raw: bytes) -> Receipt:
    """Parse receipt bytes; raises MalformedJson or InvalidEnvelope (naming the field)."""
    try:
        return Receipt.model_validate_json(raw)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise MalformedJson("a receipt is one JSON object") from None
        loc, msg = first_error(exc)
        raise InvalidEnvelope(f"receipt field {loc}: {msg}", field=loc) from None


def verify_receipt(
    directory: Directory, raw: bytes, jws: str, at: datetime | None = None
) -> Receipt:
    """Parse a receipt and check it is signed by a system key of its recipient party.

    Args:
        directory: the directory holding the parties' system keys.
        raw: the receipt's exact bytes.
        jws: the detached JWS that came with them.
        at: when the key must be valid (now by default).

    Returns:
        The receipt.

    Raises:
        MalformedJson, InvalidEnvelope, and the SignatureError subclasses (SenderMismatch
        when the key is not the recipient party's).
    """
    receipt = parse_receipt(raw)
    header, owner = directory.verify_signature(raw, jws, at)
    if owner.kind != "party" or owner.country != receipt.recipient:
        raise SenderMismatch(
            f"receipt for {receipt.message_id} names recipient {receipt.recipient}, but key "
            f"{header.kid!r} is not one of that party's system keys",
            kid=header.kid,
            message_id=receipt.message_id,
        )
    return receipt

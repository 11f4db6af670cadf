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

A sink that wrote a batch of deliveries publishes their receipts as **one** RECEIPTS
message (one persisted write instead of one per delivery): a :class:`ReceiptBatch` whose
items are each receipt's exact bytes (as a JSON string) and its own detached JWS, so each
is still signed on its own and the audit log keeps one verifiable receipt per delivery.
Such a message carries ``Enlace-Receipt-Batch`` (how many) instead of ``Enlace-Signature``,
at most :data:`MAX_BATCH_RECEIPTS` receipts, and a ``Nats-Msg-Id`` made of the receipts it
carries (:func:`batch_msg_id`), so that the same batch published again after a crash is
dropped by the stream's duplicate window. A receipt alone is published as before.

Shared here because both the adapters (who sign) and the hub (who verifies) need it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import Field, ValidationError

from schemas.canonical import canonical_json
from schemas.common import CountryCode, StrictModel, UtcDatetime
from schemas.directory import Directory
from schemas.envelope import first_error
from schemas.errors import (
    InvalidEnvelope,
    MalformedJson,
    ReceiptBatchInvalid,
    ReceiptBatchTooLarge,
    SenderMismatch,
)
from schemas.jws import sign_detached

__all__ = [
    "MAX_BATCH_RECEIPTS",
    "Receipt",
    "ReceiptBatch",
    "ReceiptStatus",
    "SignedReceipt",
    "batch_msg_id",
    "pack_receipts",
    "parse_receipt",
    "receipt_msg_id",
    "receipt_parts",
    "sign_receipt",
    "unpack_receipts",
    "verify_receipt",
]

MAX_BATCH_RECEIPTS = 256
"""The most receipts one RECEIPTS message may carry (a sink holds at most 128 deliveries
unacked, ``SINK_MAX_ACK_PENDING``, so one fetched batch always fits)."""


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


def receipt_msg_id(receipt: Receipt) -> str:
    """The ``Nats-Msg-Id`` of a receipt published alone: its message, recipient, sink and
    status, so a redelivered delivery's receipt (signed again, other bytes) is dropped by
    RECEIPTS' duplicate window."""
    return f"receipt:{receipt.message_id}:{receipt.recipient}:{receipt.sink}:{receipt.status.value}"


def batch_msg_id(receipts: Sequence[Receipt]) -> str:
    """The ``Nats-Msg-Id`` of a batch: the SHA-256 of its receipts' own ids, in order.

    Made of what the receipts say, not of their bytes (signed again after a crash, their
    ``delivered_at`` differs): the same deliveries receipted again in the same batch are
    dropped by RECEIPTS' duplicate window. (A batch cut otherwise is stored, and the hub
    records each of its receipts once all the same.)
    """
    ids = "\n".join(receipt_msg_id(r) for r in receipts)
    return "receipts:" + hashlib.sha256(ids.encode()).hexdigest()


class SignedReceipt(StrictModel):
    """One receipt of a batch: its exact bytes and the detached JWS over them."""

    receipt: str = Field(
        min_length=2, description="the receipt's canonical JSON, as a string (UTF-8 bytes)"
    )
    signature: str = Field(
        min_length=1, description="detached JWS over those bytes by the recipient party"
    )


class ReceiptBatch(StrictModel):
    """The body of a RECEIPTS message that carries the receipts of a sink's batch."""

    receipts: list[SignedReceipt] = Field(min_length=1, max_length=MAX_BATCH_RECEIPTS)


_PACKED_HEAD, _PACKED_TAIL = b'{"receipts":[', b"]}"


def _packed_item(raw: bytes, jws: str) -> bytes:
    return canonical_json({"receipt": raw.decode("utf-8"), "signature": jws})


def pack_receipts(signed: Sequence[tuple[bytes, str]]) -> bytes:
    """The body of one RECEIPTS message carrying ``signed`` (each receipt's bytes, JWS):
    the canonical JSON of ``{"receipts": [{"receipt": …, "signature": …}, …]}``.

    Raises:
        ReceiptBatchTooLarge: more than :data:`MAX_BATCH_RECEIPTS` (publish in parts).
    """
    if len(signed) > MAX_BATCH_RECEIPTS:
        raise ReceiptBatchTooLarge(len(signed), MAX_BATCH_RECEIPTS)
    items = b",".join(_packed_item(raw, jws) for raw, jws in signed)
    return _PACKED_HEAD + items + _PACKED_TAIL


def receipt_parts(signed: Sequence[tuple[bytes, str]], max_bytes: int) -> list[slice]:
    """Where to cut ``signed``, in order, into parts that each make one RECEIPTS message:
    at most :data:`MAX_BATCH_RECEIPTS` receipts and, packed (:func:`pack_receipts`), at
    most ``max_bytes`` (the deployment's ``hub.max_message_bytes``). A receipt too large
    to share a message goes alone (it is then published as a plain receipt).

    Args:
        signed: each receipt's bytes and JWS.
        max_bytes: the most bytes of one packed part.
    """
    parts: list[slice] = []
    start, empty = 0, len(_PACKED_HEAD) + len(_PACKED_TAIL)
    size = empty
    for i, (raw, jws) in enumerate(signed):
        item = len(_packed_item(raw, jws))
        count = i - start
        if count and (count == MAX_BATCH_RECEIPTS or size + 1 + item > max_bytes):
            parts.append(slice(start, i))
            start, size = i, empty
        size += item + (1 if i > start else 0)  # a comma before all but the first
    if start < len(signed):
        parts.append(slice(start, len(signed)))
    return parts


def _announced(count: str) -> int:
    if not count.isascii() or not count.isdigit() or len(count) > 6:
        raise ReceiptBatchInvalid(
            f"its Enlace-Receipt-Batch header {count[:20]!r} is not a number of receipts"
        )
    announced = int(count)
    if announced > MAX_BATCH_RECEIPTS:
        raise ReceiptBatchTooLarge(announced, MAX_BATCH_RECEIPTS)
    return announced


def unpack_receipts(raw: bytes, count: str) -> list[tuple[bytes, str]]:
    """Each receipt of a batch, as its bytes and JWS, in order; not yet verified.

    Args:
        raw: the RECEIPTS message's body.
        count: its ``Enlace-Receipt-Batch`` header.

    Raises:
        ReceiptBatchTooLarge: it announces or carries more than :data:`MAX_BATCH_RECEIPTS`.
        ReceiptBatchInvalid: the header is not a number, the body is not a batch, or they
            disagree; a receipt that is no UTF-8 text.
    """
    announced = _announced(count)
    try:
        batch = ReceiptBatch.model_validate_json(raw)
    except ValidationError as exc:
        too_long = [
            e for e in exc.errors() if e["type"] == "too_long" and e["loc"] == ("receipts",)
        ]
        if too_long:
            raise ReceiptBatchTooLarge(
                int(too_long[0]["ctx"]["actual_length"]), MAX_BATCH_RECEIPTS
            ) from None
        loc, msg = first_error(exc)
        raise ReceiptBatchInvalid(f"not a batch of signed receipts: field {loc}: {msg}") from None
    if len(batch.receipts) != announced:
        raise ReceiptBatchInvalid(
            f"its Enlace-Receipt-Batch header says {announced} receipts, its body holds "
            f"{len(batch.receipts)}"
        )
    try:
        return [(item.receipt.encode("utf-8"), item.signature) for item in batch.receipts]
    except UnicodeEncodeError:
        raise ReceiptBatchInvalid("a receipt of the batch is not UTF-8 text") from None

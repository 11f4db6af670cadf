"""Signed delivery receipts: who may sign them and what a forged one looks like."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from schemas.errors import BadSignature, InvalidEnvelope, MalformedJson, SenderMismatch
from schemas.jws import sign_detached
from schemas.receipts import Receipt, ReceiptStatus, sign_receipt, verify_receipt
from tests.factories import make_directory

TD = make_directory(parties=("GT", "SV"), themes=("gangs",))


def receipt(**fields: object) -> Receipt:
    data: dict[str, object] = {
        "message_id": "01JD0000000000000000000000",
        "recipient": "GT",
        "sink": "folder",
        "view": "full",
        "digest": "sha256:" + "0" * 64,
        "delivered_at": datetime(2026, 11, 25, tzinfo=UTC),
    }
    return Receipt.model_validate(data | fields)


def test_recipient_party_key_signs_a_receipt() -> None:
    raw, jws = sign_receipt(receipt(), TD.keys["gt-system-k1"], "gt-system-k1")
    assert verify_receipt(TD.directory, raw, jws).status is ReceiptStatus.DELIVERED
    assert b"reason" not in raw  # canonical, no nulls


@pytest.mark.parametrize("kid", ["sv-system-k1", "gt-gangs-k1", "hub-k1"])
def test_only_the_recipient_party_signs_its_receipts(kid: str) -> None:
    raw, jws = sign_receipt(receipt(), TD.keys[kid], kid)
    with pytest.raises(SenderMismatch):
        verify_receipt(TD.directory, raw, jws)


def test_altered_receipt_is_refused() -> None:
    raw, jws = sign_receipt(receipt(), TD.keys["gt-system-k1"], "gt-system-k1")
    with pytest.raises(BadSignature):
        verify_receipt(TD.directory, raw.replace(b"folder", b"jsonl!"), jws)


def test_unreadable_receipts_name_the_problem() -> None:
    with pytest.raises(MalformedJson):
        verify_receipt(TD.directory, b"{", "x..y")
    with pytest.raises(InvalidEnvelope, match="digest"):
        verify_receipt(TD.directory, receipt().to_bytes().replace(b"sha256:", b"md5:"), "x..y")


# What an adapter from before ``delivery_seq`` signed: these exact bytes must still parse,
# and a receipt without the field must serialise to them (or its signature would break).
OLD_RECEIPT = (
    b'{"delivered_at":"2026-11-25T00:00:00Z","digest":"sha256:'
    + b"0" * 64
    + b'","message_id":"01JD0000000000000000000000","recipient":"GT","sink":"folder",'
    b'"status":"delivered","view":"full"}'
)


def test_a_receipt_of_an_older_adapter_still_parses_and_verifies() -> None:
    jws = sign_detached(OLD_RECEIPT, TD.keys["gt-system-k1"], "gt-system-k1")
    parsed = verify_receipt(TD.directory, OLD_RECEIPT, jws)
    assert parsed.delivery_seq is None
    assert parsed.to_bytes() == OLD_RECEIPT


def test_without_a_delivery_sequence_the_canonical_bytes_do_not_change() -> None:
    assert receipt().to_bytes() == OLD_RECEIPT
    assert b"delivery_seq" not in receipt().to_bytes()


def test_the_delivery_sequence_is_signed_with_the_receipt() -> None:
    raw, jws = sign_receipt(receipt(delivery_seq=42), TD.keys["gt-system-k1"], "gt-system-k1")
    assert verify_receipt(TD.directory, raw, jws).delivery_seq == 42
    with pytest.raises(BadSignature):
        verify_receipt(TD.directory, raw.replace(b":42", b":43"), jws)


@pytest.mark.parametrize("seq", [0, -1, "x", 1.5])
def test_a_delivery_sequence_is_a_positive_integer(seq: object) -> None:
    raw = receipt(delivery_seq=7).to_bytes().replace(b"7", json.dumps(seq).encode())
    with pytest.raises(InvalidEnvelope, match="delivery_seq"):
        verify_receipt(TD.directory, raw, "x..y")

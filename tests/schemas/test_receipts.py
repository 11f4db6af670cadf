"""Signed delivery receipts: who may sign them and what a forged one looks like."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.errors import BadSignature, InvalidEnvelope, MalformedJson, SenderMismatch
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

"""What each sink receipt becomes on the audit record (pure verification, no NATS)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hub.audit import EntryKind, parse_entry
from hub.receipts import (
    RECEIPT_MISMATCH,
    UNCHECKED_GONE,
    UNCHECKED_NO_SEQUENCE,
    StoredDelivery,
    checked_entry,
    receipt_entry,
)
from schemas.countersign import sha256_digest
from schemas.jws import sign_detached
from schemas.receipts import Receipt, ReceiptStatus, sign_receipt
from schemas.subjects import HDR_MSG_ID, HDR_VIEW, delivery_subject, receipt_subject
from tests.factories import TestDirectory, make_directory, poc_id

MESSAGE_ID = "01JB6X1Q8Y6Z3N4M5P7R8S9T0W"


@pytest.fixture(scope="module")
def td() -> TestDirectory:
    return make_directory(parties=("GT", "SV", "US"), themes=("gangs",))


def _receipt(recipient: str = "SV", **fields: object) -> Receipt:
    values: dict[str, object] = {
        "message_id": MESSAGE_ID,
        "recipient": recipient,
        "sink": "jsonl",
        "view": "full",
        "digest": sha256_digest(b"written"),
        "delivered_at": datetime.now(UTC),
    }
    values.update(fields)
    return Receipt.model_validate(values)


def _signed(td: TestDirectory, receipt: Receipt, by: str) -> tuple[bytes, str]:
    kid = f"{by.lower()}-system-k1"
    return sign_receipt(receipt, td.keys[kid], kid)


def test_a_receipt_signed_by_its_recipient_is_a_delivered_entry(td: TestDirectory) -> None:
    raw, jws = _signed(td, _receipt(), "SV")
    recorded = receipt_entry(td.directory, receipt_subject("SV"), raw, jws)
    entry = recorded.entry
    assert recorded.valid
    assert entry.kind is EntryKind.DELIVERED
    assert (entry.message_id, entry.recipient, entry.sink) == (MESSAGE_ID, "SV", "jsonl")
    assert entry.digest == sha256_digest(raw)  # the receipt itself, as signed
    assert parse_entry(entry.canonical()) == entry


def test_a_dead_letter_receipt_keeps_the_sinks_reason(td: TestDirectory) -> None:
    receipt = _receipt(status=ReceiptStatus.DEAD_LETTERED, reason="tampered")
    raw, jws = _signed(td, receipt, "SV")
    entry = receipt_entry(td.directory, receipt_subject("SV"), raw, jws).entry
    assert entry.kind is EntryKind.DEAD_LETTERED
    assert (entry.recipient, entry.reason) == ("SV", "tampered")


def test_a_dead_letter_reason_that_is_not_a_code_is_recorded_as_unspecified(
    td: TestDirectory,
) -> None:
    receipt = _receipt(status=ReceiptStatus.DEAD_LETTERED, reason="Disk Full at /var")
    raw, jws = _signed(td, receipt, "SV")
    entry = receipt_entry(td.directory, receipt_subject("SV"), raw, jws).entry
    assert (entry.kind, entry.reason) == (EntryKind.DEAD_LETTERED, "unspecified")


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("other_party_key", "sender_mismatch"),  # US signs a receipt for SV
        ("altered_body", "bad_signature"),  # SV's receipt, one field changed after signing
        ("wrong_subject", "subject_mismatch"),  # SV's receipt published under US
        ("no_signature", "malformed_signature"),
        ("poc_key", "sender_mismatch"),  # a POC key is not a party system key
    ],
)
def test_an_unverifiable_receipt_is_rejected_with_a_reason_and_never_delivered(
    td: TestDirectory, case: str, reason: str
) -> None:
    raw, jws = _signed(td, _receipt(), "SV")
    subject: str = receipt_subject("SV")
    header: str | None = jws
    if case == "other_party_key":
        raw, header = _signed(td, _receipt(), "US")
    elif case == "altered_body":
        raw = raw.replace(b'"jsonl"', b'"jsonl2"')
    elif case == "wrong_subject":
        subject = receipt_subject("US")
    elif case == "no_signature":
        header = None
    elif case == "poc_key":
        kid = f"{poc_id('SV', 'gangs')}-k1"
        header = sign_detached(raw, td.keys[kid], kid)
    recorded = receipt_entry(td.directory, subject, raw, header)
    assert not recorded.valid
    entry = recorded.entry
    assert entry.kind is EntryKind.RECEIPT_REJECTED
    assert entry.reason == reason
    assert entry.message_id == MESSAGE_ID  # visible in the message's trail
    assert entry.country == subject.rsplit(".", 1)[1]
    assert entry.digest == sha256_digest(raw)


def test_unreadable_bytes_are_rejected_without_a_message_id(td: TestDirectory) -> None:
    entry = receipt_entry(td.directory, receipt_subject("SV"), b"not json", "x.y.z").entry
    assert (entry.kind, entry.reason, entry.message_id) == (
        EntryKind.RECEIPT_REJECTED,
        "malformed_json",
        None,
    )


def test_a_forged_id_the_log_cannot_hold_is_left_out_of_the_rejection(
    td: TestDirectory,
) -> None:
    raw, jws = _signed(td, _receipt(message_id="<script> drop"), "US")
    entry = receipt_entry(td.directory, receipt_subject("SV"), raw, jws).entry
    assert (entry.kind, entry.message_id) == (EntryKind.RECEIPT_REJECTED, None)


def test_a_signed_receipt_whose_sink_name_the_log_cannot_hold_is_not_a_delivery(
    td: TestDirectory,
) -> None:
    raw, jws = _signed(td, _receipt(sink="my sink"), "SV")
    recorded = receipt_entry(td.directory, receipt_subject("SV"), raw, jws)
    assert not recorded.valid
    assert (recorded.entry.kind, recorded.entry.reason) == (
        EntryKind.RECEIPT_REJECTED,
        "invalid_receipt",
    )


# -- compared with the DELIVERY message the receipt names ----------------------------------

WRITTEN = b"written"  # the body the hub delivered (its digest is the receipt's default)


def _stored(
    message_id: str = MESSAGE_ID,
    recipient: str = "SV",
    view: str = "full",
    body: bytes = WRITTEN,
    subject: str | None = None,
) -> StoredDelivery:
    return StoredDelivery(
        7,
        subject or delivery_subject(recipient, "gangs", "gang_movement"),
        {HDR_MSG_ID: f"{message_id}:{recipient}", HDR_VIEW: view},
        body,
    )


def _checked(
    td: TestDirectory, receipt: Receipt, stored: StoredDelivery | None
) -> tuple[EntryKind, str | None, str | None]:
    raw, jws = _signed(td, receipt, receipt.recipient)
    subject = receipt_subject(receipt.recipient)
    recorded = checked_entry(receipt_entry(td.directory, subject, raw, jws), subject, raw, stored)
    entry = recorded.entry
    assert parse_entry(entry.canonical()) == entry  # still a valid entry of the log
    assert recorded.valid == (entry.kind is not EntryKind.RECEIPT_REJECTED)
    return entry.kind, entry.reason, entry.detail


@pytest.mark.parametrize("status", [ReceiptStatus.DELIVERED, ReceiptStatus.DEAD_LETTERED], ids=str)
def test_a_receipt_that_answers_the_stored_delivery_is_recorded_unmarked(
    td: TestDirectory, status: ReceiptStatus
) -> None:
    receipt = _receipt(
        delivery_seq=7,
        status=status,
        reason="tampered" if status is ReceiptStatus.DEAD_LETTERED else None,
    )
    kind, _, detail = _checked(td, receipt, _stored())
    assert kind.value == status.value
    assert detail is None


@pytest.mark.parametrize(
    "stored",
    [
        _stored(message_id="01JB6X1Q8Y6Z3N4M5P7R8S9T0X"),  # another message
        _stored(recipient="US"),  # another party's delivery of the same message
        _stored(subject=delivery_subject("US", "gangs", "gang_movement")),  # sent elsewhere
        _stored(view="no_names"),  # the hub sent another view
        _stored(body=b"what the hub sent"),  # the sink claims other bytes
    ],
    ids=["other-message", "other-party", "other-subject", "other-view", "other-digest"],
)
def test_a_receipt_the_stored_delivery_contradicts_is_rejected(
    td: TestDirectory, stored: StoredDelivery
) -> None:
    kind, reason, _ = _checked(td, _receipt(delivery_seq=7), stored)
    assert (kind, reason) == (EntryKind.RECEIPT_REJECTED, RECEIPT_MISMATCH)


def test_a_dead_letter_receipt_with_other_bytes_is_rejected_too(td: TestDirectory) -> None:
    receipt = _receipt(delivery_seq=7, status=ReceiptStatus.DEAD_LETTERED, reason="tampered")
    kind, reason, _ = _checked(td, receipt, _stored(body=b"other"))
    assert (kind, reason) == (EntryKind.RECEIPT_REJECTED, RECEIPT_MISMATCH)


def test_a_receipt_without_a_delivery_sequence_is_recorded_marked_unchecked(
    td: TestDirectory,
) -> None:
    kind, _, detail = _checked(td, _receipt(), _stored(body=b"anything"))
    assert (kind, detail) == (EntryKind.DELIVERED, UNCHECKED_NO_SEQUENCE)


def test_a_receipt_whose_delivery_is_gone_is_recorded_marked_unchecked(
    td: TestDirectory,
) -> None:
    kind, _, detail = _checked(td, _receipt(delivery_seq=7), None)
    assert (kind, detail) == (EntryKind.DELIVERED, UNCHECKED_GONE)


def test_a_receipt_that_did_not_verify_keeps_its_own_reason(td: TestDirectory) -> None:
    raw, jws = _signed(td, _receipt(delivery_seq=7), "US")  # not SV's key
    subject = receipt_subject("SV")
    recorded = checked_entry(receipt_entry(td.directory, subject, raw, jws), subject, raw, None)
    assert (recorded.entry.kind, recorded.entry.reason) == (
        EntryKind.RECEIPT_REJECTED,
        "sender_mismatch",
    )

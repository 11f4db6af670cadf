"""What each sink receipt becomes on the audit record (pure verification, no NATS)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import cast

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from nats.js import JetStreamContext
from structlog.testing import capture_logs

from hub.audit import AuditWriter, EntryKind, parse_entry
from hub.config import HubSettings
from hub.errors import (
    ReceiptConflict,
    ReceiptMismatch,
    ReceiptRefused,
    ReceiptUnchecked,
    ReceiptUnknownSink,
)
from hub.pipeline.receipt_batch import Arrived
from hub.pipeline.receipt_checks import (
    StoredDelivery,
    check_receipt,
    checked_entry,
    conflict,
    delivery_key,
    frozen_sinks,
    receipt_entry,
)
from hub.pipeline.receipts import ReceiptRecorder
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


SINKS = frozen_sinks({"SV": ["jsonl", "folder"], "US": ["webhook"]})


def _checked(
    td: TestDirectory,
    receipt: Receipt,
    stored: StoredDelivery | None,
    sinks: Mapping[str, frozenset[str]] = SINKS,
) -> tuple[EntryKind, str | None, str | None]:
    raw, jws = _signed(td, receipt, receipt.recipient)
    subject = receipt_subject(receipt.recipient)
    recorded = checked_entry(
        receipt_entry(td.directory, subject, raw, jws), subject, raw, stored, sinks
    )
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
    assert (kind, reason) == (EntryKind.RECEIPT_REJECTED, ReceiptMismatch.code)


def test_a_dead_letter_receipt_with_other_bytes_is_rejected_too(td: TestDirectory) -> None:
    receipt = _receipt(delivery_seq=7, status=ReceiptStatus.DEAD_LETTERED, reason="tampered")
    kind, reason, _ = _checked(td, receipt, _stored(body=b"other"))
    assert (kind, reason) == (EntryKind.RECEIPT_REJECTED, ReceiptMismatch.code)


def test_a_receipt_without_a_delivery_sequence_is_refused_unchecked(
    td: TestDirectory,
) -> None:
    # What a forger sends for a message that does not exist: nothing to check it against.
    kind, reason, _ = _checked(td, _receipt(), _stored(body=b"anything"))
    assert (kind, reason) == (EntryKind.RECEIPT_REJECTED, ReceiptUnchecked.code)


def test_a_receipt_whose_delivery_is_gone_is_refused_unchecked(td: TestDirectory) -> None:
    kind, reason, _ = _checked(td, _receipt(delivery_seq=7), None)
    assert (kind, reason) == (EntryKind.RECEIPT_REJECTED, ReceiptUnchecked.code)


@pytest.mark.parametrize("status", [ReceiptStatus.DELIVERED, ReceiptStatus.DEAD_LETTERED], ids=str)
@pytest.mark.parametrize(
    ("recipient", "sink"),
    [("SV", "webhook"), ("SV", "nowhere"), ("US", "jsonl"), ("GT", "jsonl")],
    ids=["another-countrys-sink", "no-such-sink", "us-without-jsonl", "gt-has-none"],
)
def test_a_receipt_from_a_sink_not_configured_for_its_country_is_refused(
    td: TestDirectory, recipient: str, sink: str, status: ReceiptStatus
) -> None:
    # Everything else holds: the delivery it names is really the recipient's.
    receipt = _receipt(recipient, sink=sink, delivery_seq=7, status=status, reason="tampered")
    kind, reason, _ = _checked(td, receipt, _stored(recipient=recipient))
    assert (kind, reason) == (EntryKind.RECEIPT_REJECTED, ReceiptUnknownSink.code)


def test_with_no_register_every_receipt_is_refused_as_from_an_unknown_sink(
    td: TestDirectory,
) -> None:
    kind, reason, _ = _checked(td, _receipt(delivery_seq=7), _stored(), frozen_sinks({}))
    assert (kind, reason) == (EntryKind.RECEIPT_REJECTED, ReceiptUnknownSink.code)


def test_the_refusal_names_what_was_wrong_where_and_what_to_do() -> None:
    receipt = _receipt(sink="nowhere", delivery_seq=7)
    with pytest.raises(ReceiptUnknownSink) as info:
        check_receipt(receipt, _stored(), SINKS)
    err = info.value
    assert (err.message_id, err.recipient, err.sink, err.delivery_seq, err.status) == (
        MESSAGE_ID,
        "SV",
        "nowhere",
        7,
        "delivered",
    )
    assert "configured: folder, jsonl" in err.description
    assert "adapters:" in err.description  # what to do
    with pytest.raises(ReceiptUnchecked, match="names no DELIVERY sequence"):
        check_receipt(_receipt(), None, SINKS)
    with pytest.raises(ReceiptMismatch, match="DELIVERY 7 was sent in view"):
        check_receipt(_receipt(delivery_seq=7), _stored(view="no_names"), SINKS)


def test_a_receipt_that_answers_its_delivery_from_a_configured_sink_passes() -> None:
    check_receipt(_receipt(delivery_seq=7, sink="folder"), _stored(), SINKS)  # no raise


def test_a_conflicting_dead_letter_is_rejected_with_its_own_code(td: TestDirectory) -> None:
    receipt = _receipt(delivery_seq=7, status=ReceiptStatus.DEAD_LETTERED, reason="tampered")
    raw, jws = _signed(td, receipt, "SV")
    subject = receipt_subject("SV")
    recorded = checked_entry(
        receipt_entry(td.directory, subject, raw, jws), subject, raw, _stored(), SINKS
    )
    assert recorded.entry.kind is EntryKind.DEAD_LETTERED  # alone, it would be recorded
    refused = conflict(recorded, subject, raw, 12)
    assert not refused.valid
    entry = refused.entry
    assert (entry.kind, entry.reason, entry.message_id, entry.country) == (
        EntryKind.RECEIPT_REJECTED,
        ReceiptConflict.code,
        MESSAGE_ID,
        "SV",
    )
    assert entry.digest == sha256_digest(raw)


def test_every_refusal_code_is_distinct_and_a_receipt_refusal() -> None:
    kinds = (ReceiptMismatch, ReceiptUnchecked, ReceiptUnknownSink, ReceiptConflict)
    assert all(issubclass(k, ReceiptRefused) for k in kinds)
    assert [k.code for k in kinds] == [
        "receipt_mismatch",
        "receipt_unchecked",
        "receipt_unknown_sink",
        "receipt_conflict",
    ]


# -- recorded once per delivery, sink and status ---------------------------------------------


def test_the_key_is_the_delivery_not_the_receipt_bytes() -> None:
    first = _receipt(delivery_seq=7, delivered_at=datetime(2026, 1, 1, tzinfo=UTC))
    again = _receipt(delivery_seq=7, delivered_at=datetime(2026, 1, 2, tzinfo=UTC))
    assert first.to_bytes() != again.to_bytes()  # re-signed later: new bytes
    assert delivery_key(first) == delivery_key(again) == "SV.7.jsonl.delivered"


def test_a_replayed_dead_letter_is_a_key_of_its_own() -> None:
    dead = _receipt(delivery_seq=7, status=ReceiptStatus.DEAD_LETTERED, reason="tampered")
    replayed = _receipt(delivery_seq=7)
    assert delivery_key(dead) != delivery_key(replayed)
    assert delivery_key(dead, ReceiptStatus.DELIVERED) == delivery_key(replayed)


_KV_KEY = r"^[-/_=.a-zA-Z0-9]+$"  # what a NATS key-value key admits


@given(
    seq=st.integers(min_value=1, max_value=2**63),
    sink=st.from_regex(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$", fullmatch=True),
    other_seq=st.integers(min_value=1, max_value=2**63),
    other_sink=st.from_regex(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$", fullmatch=True),
    status=st.sampled_from(ReceiptStatus),
)
@example(seq=7, sink="a:b", other_seq=7, other_sink="a.b", status=ReceiptStatus.DELIVERED)
@example(seq=7, sink="1.x", other_seq=71, other_sink="x", status=ReceiptStatus.DELIVERED)
@example(seq=7, sink="x", other_seq=7, other_sink="x", status=ReceiptStatus.DEAD_LETTERED)
def test_keys_are_valid_and_never_shared_by_two_deliveries_or_sinks(
    seq: int, sink: str, other_seq: int, other_sink: str, status: ReceiptStatus
) -> None:
    # Any sink name the log admits: a forger's chosen name must neither break the bucket
    # nor land on the key of another (delivery, sink).
    key = delivery_key(_receipt(delivery_seq=seq, sink=sink, status=status))
    assert re.fullmatch(_KV_KEY, key)
    other = delivery_key(_receipt(delivery_seq=other_seq, sink=other_sink, status=status))
    assert (key == other) == ((seq, sink) == (other_seq, other_sink))


@given(sink=st.text(min_size=1, max_size=100))
def test_any_sink_name_not_in_the_register_is_refused(sink: str) -> None:
    receipt = _receipt(sink=sink, delivery_seq=7)
    if sink in SINKS["SV"]:
        check_receipt(receipt, _stored(), SINKS)
    else:
        with pytest.raises(ReceiptUnknownSink):
            check_receipt(receipt, _stored(), SINKS)


def test_a_receipt_that_did_not_verify_keeps_its_own_reason(td: TestDirectory) -> None:
    raw, jws = _signed(td, _receipt(delivery_seq=7), "US")  # not SV's key
    subject = receipt_subject("SV")
    recorded = checked_entry(
        receipt_entry(td.directory, subject, raw, jws), subject, raw, None, SINKS
    )
    assert (recorded.entry.kind, recorded.entry.reason) == (
        EntryKind.RECEIPT_REJECTED,
        "sender_mismatch",
    )


def test_a_ledger_entry_that_cannot_name_its_subject_does_not_hold_the_receipt(
    td: TestDirectory,
) -> None:
    # Unreachable for deliveries the hub validated; if it ever happened, retrying could
    # never succeed: the receipt is acked (it is on the record) and the error logged.
    body = json.dumps({"sender": {"country": "G T"}}).encode()
    receipt = _receipt(delivery_seq=7, digest=sha256_digest(body))
    raw, jws = _signed(td, receipt, "SV")
    subject = receipt_subject("SV")
    stored = _stored(body=body)
    recorded = checked_entry(
        receipt_entry(td.directory, subject, raw, jws), subject, raw, stored, SINKS
    )
    recorder = ReceiptRecorder(
        cast(JetStreamContext, None),  # never reached: the subject fails first
        cast(AuditWriter, None),
        td.directory,
        HubSettings(),
        sinks=SINKS,
    )
    assert recorded.valid
    arrived = Arrived(subject, raw, jws, datetime.now(UTC))
    with capture_logs() as logs:
        told = asyncio.run(recorder._tell_sender(arrived, recorded, stored))
    assert told is True
    assert [entry["event"] for entry in logs] == ["ledger_impossible"]

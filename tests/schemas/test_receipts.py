"""Signed delivery receipts: who may sign them and what a forged one looks like."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from schemas.canonical import canonical_json
from schemas.errors import (
    BadSignature,
    InvalidEnvelope,
    MalformedJson,
    ReceiptBatchInvalid,
    ReceiptBatchTooLarge,
    SenderMismatch,
)
from schemas.jws import sign_detached
from schemas.receipts import (
    MAX_BATCH_RECEIPTS,
    Receipt,
    ReceiptStatus,
    batch_msg_id,
    pack_receipts,
    receipt_msg_id,
    receipt_parts,
    sign_receipt,
    unpack_receipts,
    verify_receipt,
)
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


# Batches: the receipts of a sink's batch in one RECEIPTS message, each signed on its own.


def _batch(count: int, **fields: object) -> list[tuple[bytes, str]]:
    key = TD.keys["gt-system-k1"]
    return [
        sign_receipt(receipt(delivery_seq=seq, **fields), key, "gt-system-k1")
        for seq in range(1, count + 1)
    ]


def test_a_batch_gives_back_each_receipts_exact_bytes_and_signature() -> None:
    signed = _batch(3, message_id="01JD000000000000000000ÑÑÑÑ")  # not ASCII: still exact
    unpacked = unpack_receipts(pack_receipts(signed), "3")
    assert unpacked == signed
    assert [verify_receipt(TD.directory, raw, jws).delivery_seq for raw, jws in unpacked] == [
        1,
        2,
        3,
    ]


@pytest.mark.parametrize(
    ("body", "count", "problem"),
    [
        (b"{", "1", "not a batch"),
        (b"[]", "1", "not a batch"),
        (b'{"receipts":[]}', "0", "not a batch"),
        (b'{"receipts":[{"receipt":"{}"}]}', "1", "signature"),
        (b'{"receipts":[{"receipt":"{}","signature":"a","x":1}]}', "1", "x"),
        (b'{"receipts":[{"receipt":"{}","signature":"a"}],"more":1}', "1", "more"),
        (b'{"receipts":[{"receipt":"\\ud800","signature":"a"}]}', "1", "not a batch"),
        (b'{"receipts":[{"receipt":"{}","signature":"a"}]}', "2", "says 2"),
        (b'{"receipts":[{"receipt":"{}","signature":"a"}]}', "one", "not a number"),
        (b'{"receipts":[{"receipt":"{}","signature":"a"}]}', "-1", "not a number"),
        (b'{"receipts":[{"receipt":"{}","signature":"a"}]}', "\u0661", "not a number"),
    ],
)
def test_a_batch_that_cannot_be_unpacked_is_refused_whole(
    body: bytes, count: str, problem: str
) -> None:
    with pytest.raises(ReceiptBatchInvalid, match=problem) as caught:
        unpack_receipts(body, count)
    assert caught.value.code == "receipt_batch_invalid"


def test_a_batch_over_the_limit_is_refused_by_its_header_or_its_body() -> None:
    one = json.loads(pack_receipts(_batch(1)))["receipts"][0]
    body = json.dumps({"receipts": [one] * (MAX_BATCH_RECEIPTS + 1)}).encode()
    for count in (str(MAX_BATCH_RECEIPTS + 1), "1"):
        with pytest.raises(ReceiptBatchTooLarge) as caught:
            unpack_receipts(body, count)
        assert (caught.value.code, caught.value.count) == (
            "receipt_batch_too_large",
            MAX_BATCH_RECEIPTS + 1,
        )
    with pytest.raises(ReceiptBatchTooLarge):
        unpack_receipts(b"{}", "999999")
    with pytest.raises(ReceiptBatchTooLarge):
        pack_receipts([(b"{}", "a")] * (MAX_BATCH_RECEIPTS + 1))


def test_the_batch_id_names_what_the_receipts_say_not_their_bytes() -> None:
    first = [receipt(delivery_seq=1, message_id=f"01JD00000000000000000000A{i}") for i in range(3)]
    later = [
        r.model_copy(update={"delivered_at": datetime(2026, 11, 26, tzinfo=UTC)}) for r in first
    ]
    assert [r.to_bytes() for r in first] != [r.to_bytes() for r in later]
    assert batch_msg_id(first) == batch_msg_id(later)  # signed again after a crash: dropped
    dead = [first[0].model_copy(update={"status": ReceiptStatus.DEAD_LETTERED}), *first[1:]]
    assert batch_msg_id(dead) != batch_msg_id(first)
    assert batch_msg_id(first[:2]) != batch_msg_id(first)
    assert batch_msg_id(first[::-1]) != batch_msg_id(first)
    assert receipt_msg_id(first[0]) == ("receipt:01JD00000000000000000000A0:GT:folder:delivered")


@given(st.binary(max_size=2000), st.text(max_size=8))
@example(b'{"receipts":[{"receipt":"{}","signature":"a"}]}', "1")
def test_hostile_bytes_are_unpacked_or_refused_as_a_batch_never_otherwise(
    body: bytes, count: str
) -> None:
    try:
        unpacked = unpack_receipts(body, count)
    except ReceiptBatchInvalid:
        return
    assert 1 <= len(unpacked) == int(count) <= MAX_BATCH_RECEIPTS


_items = st.lists(
    st.fixed_dictionaries(
        {"receipt": st.text(max_size=40), "signature": st.text(max_size=20)},
        optional={"extra": st.integers()},
    ),
    max_size=4,
)


@given(st.one_of(_items, st.fixed_dictionaries({"receipts": _items})), st.integers(0, 5))
def test_hostile_batches_of_json_are_unpacked_or_refused_as_a_batch(
    doc: object, count: int
) -> None:
    body = json.dumps(doc).encode()
    try:
        unpacked = unpack_receipts(body, str(count))
    except ReceiptBatchInvalid:
        return
    assert isinstance(doc, dict) and len(doc["receipts"]) == count == len(unpacked)
    for (raw, jws), item in zip(unpacked, doc["receipts"], strict=True):
        assert (raw.decode(), jws) == (item["receipt"], item["signature"])


_SIGNED = st.lists(
    st.tuples(st.text(max_size=40).map(str.encode), st.text(max_size=30)), max_size=12
)


@given(_SIGNED)
def test_packed_receipts_are_the_canonical_json_of_the_batch(
    signed: list[tuple[bytes, str]],
) -> None:
    items = [{"receipt": raw.decode(), "signature": jws} for raw, jws in signed]
    assert pack_receipts(signed) == canonical_json({"receipts": items})


@given(_SIGNED, st.integers(min_value=1, max_value=400))
def test_parts_keep_the_order_and_each_fits_unless_a_receipt_alone_does_not(
    signed: list[tuple[bytes, str]], max_bytes: int
) -> None:
    parts = receipt_parts(signed, max_bytes)
    assert [x for cut in parts for x in signed[cut]] == signed  # all, once, in order
    for cut in parts:
        part = signed[cut]
        assert part and len(part) <= MAX_BATCH_RECEIPTS
        assert len(pack_receipts(part)) <= max_bytes or len(part) == 1
    for before, after in itertools.pairwise(parts):  # as few parts as it takes
        joined = signed[before.start : after.start + 1]
        assert len(joined) > MAX_BATCH_RECEIPTS or len(pack_receipts(joined)) > max_bytes


def test_a_sinks_whole_batch_fits_one_message_under_the_default_limit() -> None:
    signed = _batch(MAX_BATCH_RECEIPTS + 10)
    assert [(c.start, c.stop) for c in receipt_parts(signed, 1024 * 1024)] == [
        (0, MAX_BATCH_RECEIPTS),
        (MAX_BATCH_RECEIPTS, MAX_BATCH_RECEIPTS + 10),
    ]

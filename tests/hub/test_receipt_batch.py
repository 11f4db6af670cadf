"""RECEIPTS messages of many receipts: unpacked one by one, refused whole when they cannot
be, and settled as one message (pure logic; a stand-in message records what it was told)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import cast

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nats.aio.msg import Msg

from hub.audit import EntryKind
from hub.pipeline.receipt_batch import Settlement, arrivals, groups
from hub.pipeline.receipt_checks import receipt_entry
from schemas.countersign import sha256_digest
from schemas.receipts import MAX_BATCH_RECEIPTS, Receipt, pack_receipts, sign_receipt
from schemas.subjects import HDR_RECEIPT_BATCH, HDR_SIGNATURE, receipt_subject
from tests.factories import TestDirectory, make_directory

AT = datetime(2026, 12, 6, tzinfo=UTC)
TD: TestDirectory = make_directory(parties=("GT", "SV"), themes=("gangs",))


@dataclass
class _Told:
    """A stand-in RECEIPTS message: what it carries, and how it was settled."""

    subject: str
    data: bytes
    headers: dict[str, str] | None
    metadata: SimpleNamespace = field(default_factory=lambda: SimpleNamespace(timestamp=AT))
    told: list[str] = field(default_factory=list)

    async def ack(self) -> None:
        self.told.append("ack")

    async def nak(self, delay: float | None = None) -> None:
        self.told.append("nak")

    async def term(self) -> None:
        self.told.append("term")


def _msg(data: bytes, headers: dict[str, str] | None, cc: str = "SV") -> Msg:
    return cast(Msg, _Told(receipt_subject(cc), data, headers))


def _signed(seq: int, by: str = "SV") -> tuple[bytes, str]:
    receipt = Receipt.model_validate(
        {
            "message_id": f"01JD00000000000000000000{seq:02d}",
            "recipient": "SV",
            "sink": "jsonl",
            "view": "full",
            "digest": sha256_digest(b"written"),
            "delivered_at": AT,
            "delivery_seq": seq,
        }
    )
    kid = f"{by.lower()}-system-k1"
    return sign_receipt(receipt, TD.keys[kid], kid)


def test_a_receipt_alone_is_one_arrival_with_its_header_signature() -> None:
    raw, jws = _signed(1)
    [arrived] = arrivals(_msg(raw, {HDR_SIGNATURE: jws}))
    assert (arrived.raw, arrived.jws, arrived.at, arrived.refused) == (raw, jws, AT, None)


def test_a_batch_is_each_of_its_receipts_in_order_each_checked_on_its_own() -> None:
    signed = [_signed(1), _signed(2, by="GT"), _signed(3)]  # GT signs SV's: a forgery
    got = arrivals(_msg(pack_receipts(signed), {HDR_RECEIPT_BATCH: "3"}))
    assert [(a.raw, a.jws) for a in got] == signed
    entries = [receipt_entry(TD.directory, a.subject, a.raw, a.jws, a.at).entry for a in got]
    assert [(e.kind, e.reason) for e in entries] == [
        (EntryKind.DELIVERED, None),
        (EntryKind.RECEIPT_REJECTED, "sender_mismatch"),
        (EntryKind.DELIVERED, None),
    ]
    assert [e.digest for e in entries] == [sha256_digest(raw) for raw, _ in signed]


@pytest.mark.parametrize(
    ("data", "count", "reason"),
    [
        (b"not json", "1", "receipt_batch_invalid"),
        (pack_receipts([_signed(1), _signed(2)]), "3", "receipt_batch_invalid"),
        (pack_receipts([_signed(1)]), str(MAX_BATCH_RECEIPTS + 1), "receipt_batch_too_large"),
    ],
)
def test_a_batch_that_cannot_be_unpacked_is_one_refusal_of_the_whole_message(
    data: bytes, count: str, reason: str
) -> None:
    [arrived] = arrivals(_msg(data, {HDR_RECEIPT_BATCH: count}))
    assert arrived.refused is not None and not arrived.refused.valid
    entry = arrived.refused.entry
    assert (entry.kind, entry.reason, entry.country, entry.message_id) == (
        EntryKind.RECEIPT_REJECTED,
        reason,
        "SV",
        None,
    )
    assert entry.digest == sha256_digest(data)  # the whole message's
    # Recorded once by its header and body: the same body under another header is another.
    [again] = arrivals(_msg(data, {HDR_RECEIPT_BATCH: count}))
    [other] = arrivals(_msg(data, {HDR_RECEIPT_BATCH: count + "0"}))
    assert arrived.key == again.key != other.key


@given(st.binary(max_size=600), st.one_of(st.none(), st.text(max_size=5)))
def test_hostile_messages_are_receipts_to_check_or_one_refusal(
    data: bytes, count: str | None
) -> None:
    headers = None if count is None else {HDR_RECEIPT_BATCH: count}
    got = arrivals(_msg(data, headers))
    assert got
    refused = [a.refused for a in got if a.refused is not None]
    if refused:
        assert len(got) == 1
        assert refused[0].entry.reason in ("receipt_batch_invalid", "receipt_batch_too_large")


@pytest.mark.parametrize(
    ("again", "kept", "settled"),
    [
        (False, True, "ack"),  # on the record
        (False, False, "term"),  # every receipt refused: the same bytes fail the same way
        (True, True, "nak"),  # one receipt's record not complete: all come again
        (True, False, "nak"),
    ],
)
def test_a_message_is_settled_once_for_all_its_receipts(
    again: bool, kept: bool, settled: str
) -> None:
    msg = _msg(b"", None)
    assert asyncio.run(Settlement(msg, again=again, kept=kept).settle()) == settled
    assert cast(_Told, msg).told == [settled]


def test_messages_are_recorded_in_groups_of_about_so_many_receipts_never_split() -> None:
    def sized(count: str | None) -> Msg:
        return _msg(b"", None if count is None else {HDR_RECEIPT_BATCH: count})

    # Alone (1), batches of 64, and headers that say nothing readable (counted as 1).
    msgs = [sized(None), sized("64"), sized("64"), sized("x"), sized("64"), sized("300")]
    got = list(groups(msgs, at_once=128))
    assert [len(g) for g in got] == [3, 3]
    assert [m for g in got for m in g] == msgs  # every message once, in order
    assert [len(g) for g in groups(msgs, at_once=64)] == [2, 1, 2, 1]
    assert list(groups([], at_once=128)) == []
    assert [len(g) for g in groups(msgs[:1], at_once=128)] == [1]

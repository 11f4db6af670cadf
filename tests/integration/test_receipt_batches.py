"""Receipts in batches, on a real nats-server: one RECEIPTS message per sink batch.

GT publishes three messages; the hub (with its audit log) routes each to SV and US; SV's
real jsonl sink writes the three as one batch and publishes their receipts as one RECEIPTS
message, each receipt signed on its own. The hub records one entry per receipt, exactly as
receipts that came alone; the same batch signed again after a crash is recorded once;
a forged receipt inside a batch is refused alone; a batch that cannot be unpacked is
refused whole with its reason code.
"""

from __future__ import annotations

import asyncio
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from adapters.client import EnlaceClient
from adapters.delivery import Delivery, parse_delivery
from adapters.receipting import ReceiptPublisher, ToReceipt
from hub.audit import AuditReader, EntryKind, verify_log
from hub.pipeline import receipts
from hub.pipeline.receipt_batch import RECORD_AT_ONCE, groups
from hub.server.process import NatsServer
from schemas.countersign import sha256_digest
from schemas.receipts import (
    MAX_BATCH_RECEIPTS,
    Receipt,
    ReceiptStatus,
    pack_receipts,
    sign_receipt,
)
from schemas.subjects import HDR_MSG_ID, HDR_RECEIPT_BATCH, receipt_subject
from tests.factories import TestDirectory
from tests.integration.hubkit import publish_signed, signed_message
from tests.integration.receiptkit import (
    answer,
    audited_hub,
    holds,
    of_kind,
    receipts_settled,
    stream_msgs,
    wait_for_entries,
)
from tests.integration.sinkkit import receipt_signer, signed_receipts, system_runner

pytestmark = pytest.mark.integration


@pytest.fixture
def nats_server(server: NatsServer) -> NatsServer:
    """A server of each test's own: streams, audit log and buckets start empty."""
    return server


async def _sent(js: JetStreamContext, td: TestDirectory, count: int) -> list[str]:
    """GT publishes ``count`` messages (each routed to SV and US); their ids, once every
    delivery is on DELIVERY."""
    ids = []
    for _ in range(count):
        message, raw, jws = signed_message(td)
        await publish_signed(js, message, raw, jws)
        ids.append(message["id"])
    for _ in range(200):
        if (await js.stream_info("DELIVERY")).state.messages >= 2 * count:
            return ids
        await asyncio.sleep(0.05)
    raise AssertionError("the hub never published the deliveries")


async def _to(js: JetStreamContext, cc: str) -> list[Any]:
    """The DELIVERY messages to ``cc``, in stream order."""
    return [m for m in await stream_msgs(js, "DELIVERY") if m.subject.split(".")[2] == cc]


def _by_sv(td: TestDirectory, receipt: Receipt) -> tuple[bytes, str]:
    """``receipt``'s bytes and JWS by SV's system key."""
    return sign_receipt(receipt, td.keys["sv-system-k1"], "sv-system-k1")


def _delivery(msg: Any) -> Delivery:
    return parse_delivery(msg.subject, dict(msg.headers), msg.data, "SV")


async def test_a_sinks_batch_is_one_message_and_one_entry_per_receipt(
    js: JetStreamContext, nc: NatsClient, nats_server: NatsServer, tmp_path: Path
) -> None:
    async with audited_hub(nats_server.url, js) as (_, _, td, checkpoints):
        ids = await _sent(js, td, 3)
        runner = system_runner(js, td, tmp_path, "SV", "jsonl", {"path": "sv.jsonl"})
        await runner.start()
        assert await runner.run_once() == 3  # the three deliveries, one fetched batch
        await runner.stop()
        entries = await wait_for_entries(js, holds(EntryKind.DELIVERED, 3))
        await receipts_settled(js)

    [message] = await stream_msgs(js, "RECEIPTS")  # one synced write for the batch
    assert message.headers[HDR_RECEIPT_BATCH] == "3"
    signed = signed_receipts(message.headers, message.data)
    delivered = of_kind(entries, EntryKind.DELIVERED)
    assert [(e.message_id, e.recipient, e.sink) for e in delivered] == [
        (mid, "SV", "jsonl") for mid in ids
    ]
    # Each entry names its own signed receipt, not the batch: a country can prove each one.
    assert [e.digest for e in delivered] == [sha256_digest(raw) for raw, _ in signed]
    reader = AuditReader(js)
    report = verify_log(
        await reader.read_all(), await reader.checkpoints(), [checkpoints.verifier()]
    )
    assert report.ok, report.problem
    # Each sender's ledger names its receipt, as the log has it.
    for mid, entry in zip(ids, delivered, strict=True):
        ledger = await EnlaceClient(nc).ledger(mid, "GT")
        assert ledger is not None
        [row] = [r for r in ledger.rows() if r.country == "SV"]
        assert [(r.sink, r.receipt_digest) for r in row.receipts] == [("jsonl", entry.digest)]


@pytest.mark.parametrize("at_once", [1, RECORD_AT_ONCE])
async def test_a_batch_receipted_again_after_a_crash_is_recorded_once(
    js: JetStreamContext, nats_server: NatsServer, monkeypatch: pytest.MonkeyPatch, at_once: int
) -> None:
    # Recorded a message at a time, or all that were fetched at once: the same record.
    monkeypatch.setattr(receipts, "groups", partial(groups, at_once=at_once))
    async with audited_hub(nats_server.url, js) as (_, _, td, _):
        await _sent(js, td, 3)
        todo = [
            ToReceipt(_delivery(m), m.seq, ReceiptStatus.DELIVERED) for m in await _to(js, "SV")
        ]
        sink = ReceiptPublisher(js, receipt_signer(td, "SV"), "jsonl")
        await sink.publish_all(todo)
        await wait_for_entries(js, holds(EntryKind.DELIVERED, 3))
        # The sink died before its acks: the batch comes back and is receipted again,
        # signed anew (other bytes), with the same Nats-Msg-Id: RECEIPTS drops it.
        await sink.publish_all(todo)
        assert (await js.stream_info("RECEIPTS")).state.messages == 1
        # Fetched otherwise after the restart (two, then one): stored, recorded no more.
        await sink.publish_all(todo[:2])
        await sink.publish_all(todo[2:])
        assert (await js.stream_info("RECEIPTS")).state.messages == 3
        await receipts_settled(js)  # acked, not redelivered
        entries = await wait_for_entries(js, holds(EntryKind.DELIVERED, 3))
    assert len({e.digest for e in of_kind(entries, EntryKind.DELIVERED)}) == 3
    assert of_kind(entries, EntryKind.RECEIPT_REJECTED) == []


async def test_one_forged_receipt_inside_a_batch_is_refused_alone(
    js: JetStreamContext, nats_server: NatsServer
) -> None:
    async with audited_hub(nats_server.url, js) as (_, _, td, _):
        ids = await _sent(js, td, 3)
        receipts = [answer(m, mid, "SV") for m, mid in zip(await _to(js, "SV"), ids, strict=True)]
        signed = [_by_sv(td, r) for r in receipts]
        # The second one is signed by US's key, not SV's: a forgery among genuine ones.
        signed[1] = sign_receipt(receipts[1], td.keys["us-system-k1"], "us-system-k1")
        # A dead-letter receipt for a delivery receipted delivered earlier in the batch.
        dead = receipts[0].model_copy(update={"status": ReceiptStatus.DEAD_LETTERED})
        signed.append(_by_sv(td, dead))
        headers = {HDR_RECEIPT_BATCH: "4", HDR_MSG_ID: "mixed"}
        await js.publish(receipt_subject("SV"), pack_receipts(signed), headers=headers)
        entries = await wait_for_entries(
            js,
            lambda es: (
                len(of_kind(es, EntryKind.DELIVERED)) == 2
                and len(of_kind(es, EntryKind.RECEIPT_REJECTED)) == 2
            ),
        )
        await receipts_settled(js)  # acked: what it holds is on the record, each its way
    delivered = of_kind(entries, EntryKind.DELIVERED)
    assert [e.message_id for e in delivered] == [ids[0], ids[2]]
    assert [e.digest for e in delivered] == [sha256_digest(signed[i][0]) for i in (0, 2)]
    rejected = {
        e.digest: (e.reason, e.message_id) for e in of_kind(entries, EntryKind.RECEIPT_REJECTED)
    }
    assert rejected == {
        sha256_digest(signed[1][0]): ("sender_mismatch", ids[1]),
        sha256_digest(signed[3][0]): ("receipt_conflict", ids[0]),
    }


async def test_a_batch_that_cannot_be_unpacked_is_refused_whole_once(
    js: JetStreamContext, nats_server: NatsServer
) -> None:
    async with audited_hub(nats_server.url, js) as (app, _, td, _):
        ids = await _sent(js, td, 2)
        sv = await _to(js, "SV")
        signed = [_by_sv(td, answer(m, mid, "SV")) for m, mid in zip(sv, ids, strict=True)]
        genuine = pack_receipts(signed)
        hostile = {
            # Genuine receipts, but the header disagrees with the body: none is recorded.
            "miscounted": (genuine, "3"),
            "no number": (genuine, "two"),
            "not a batch": (b'{"receipt": "x"}', "1"),
            "too many": (genuine, str(MAX_BATCH_RECEIPTS + 1)),
        }
        for name, (body, count) in hostile.items():
            await js.publish(
                receipt_subject("SV"), body, headers={HDR_RECEIPT_BATCH: count, HDR_MSG_ID: name}
            )
        # The miscounted batch again (past the duplicate window): on the record once.
        await js.publish(receipt_subject("SV"), genuine, headers={HDR_RECEIPT_BATCH: "3"})
        entries = await wait_for_entries(js, holds(EntryKind.RECEIPT_REJECTED, 4))
        await receipts_settled(js)  # terminated, not redelivered for ever
        sample = app.metrics.registry.get_sample_value
        assert sample("enlace_receipts_total", {"outcome": "duplicate"}) == 1
    assert of_kind(entries, EntryKind.DELIVERED) == []
    rejected = sorted(
        (e.reason, e.digest, e.country, e.message_id)
        for e in of_kind(entries, EntryKind.RECEIPT_REJECTED)
    )
    assert rejected == sorted(
        [
            ("receipt_batch_invalid", sha256_digest(genuine), "SV", None),
            ("receipt_batch_invalid", sha256_digest(genuine), "SV", None),
            ("receipt_batch_invalid", sha256_digest(b'{"receipt": "x"}'), "SV", None),
            ("receipt_batch_too_large", sha256_digest(genuine), "SV", None),
        ]
    )


async def test_a_batch_larger_than_the_message_limit_goes_in_parts_each_within_it(
    js: JetStreamContext, nats_server: NatsServer, tmp_path: Path
) -> None:
    # A deployment of small messages (4 KiB): twelve receipts (~500 bytes each) do not fit
    # in one RECEIPTS message of that size; the sink sends them in as many as it takes.
    limit = 4096
    async with audited_hub(nats_server.url, js, max_message_bytes=limit) as (_, _, td, _):
        ids = await _sent(js, td, 12)
        options = {"path": "sv.jsonl"}
        runner = system_runner(js, td, tmp_path, "SV", "jsonl", options, max_bytes=limit)
        await runner.start()
        assert await runner.run_once() == 12  # one fetched batch, every delivery acked
        await runner.stop()
        entries = await wait_for_entries(js, holds(EntryKind.DELIVERED, 12))
        await receipts_settled(js)

    messages = await stream_msgs(js, "RECEIPTS")
    assert len(messages) > 1
    assert all(len(m.data) <= limit for m in messages)
    counts = [int(m.headers.get(HDR_RECEIPT_BATCH, "1")) for m in messages]
    assert sum(counts) == 12  # each receipt sent once
    delivered = of_kind(entries, EntryKind.DELIVERED)
    assert sorted(str(e.message_id) for e in delivered) == sorted(ids)

"""Sink receipts on the audit record, on a real nats-server: the last step of the trail.

GT publishes a gang movement; the hub (with its audit log) routes it to SV and US; their
real sink runners write it and publish signed receipts; the hub's receipt recorder turns
them into ``delivered`` entries. Forged receipts never count as deliveries, receipts that
cannot be checked against a DELIVERY message or come from a sink not configured for their
country are refused, and the same receipt read twice is recorded once. The log still
verifies against its checkpoints. (Forgeries through a country's own NATS login:
``test_receipt_forgery.py``.)
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from adapters.client import EnlaceClient
from hub.audit import (
    AuditReader,
    EntryKind,
    verify_log,
)
from hub.cli import cli
from hub.errors import ReceiptMismatch, ReceiptUnchecked, ReceiptUnknownSink
from hub.server.process import NatsServer
from schemas.countersign import sha256_digest
from schemas.ledger import LedgerReceipt
from schemas.receipts import Receipt, ReceiptStatus, sign_receipt
from schemas.subjects import (
    HDR_MSG_ID,
    HDR_SIGNATURE,
    ledger_subject,
    outcome_stream,
    receipt_subject,
)
from tests.factories import TestDirectory
from tests.integration.hubkit import governance, publish_signed, signed_message
from tests.integration.receiptkit import (
    answer,
    audit_entries,
    audited_hub,
    deliveries,
    holds,
    of_kind,
    receipts_settled,
    stream_msgs,
    wait_for_entries,
)
from tests.integration.sinkkit import read_receipts, system_runner

pytestmark = pytest.mark.integration


@pytest.fixture
def nats_server(server: NatsServer) -> NatsServer:
    """A server of each test's own, so streams start empty: deleting a stream and at once
    re-creating it now and then fails inside nats-server ("error creating store")."""
    return server


@pytest.fixture
async def js(nc: NatsClient) -> JetStreamContext:
    """A server with no hub streams, audit log or buckets left by an earlier test."""
    return nc.jetstream()


async def _publish_receipt(
    js: JetStreamContext,
    td: TestDirectory,
    subject_cc: str,
    signer_cc: str,
    receipt: Receipt,
    msg_id: str,
    alter: Callable[[bytes], bytes] | None = None,
) -> bytes:
    kid = f"{signer_cc.lower()}-system-k1"
    raw, jws = sign_receipt(receipt, td.keys[kid], kid)
    if alter is not None:
        raw = alter(raw)
    headers = {HDR_SIGNATURE: jws, HDR_MSG_ID: msg_id}
    await js.publish(receipt_subject(subject_cc), raw, headers=headers)
    return raw


def _receipt(message_id: str, recipient: str = "SV", **fields: Any) -> Receipt:
    values: dict[str, Any] = {
        "message_id": message_id,
        "recipient": recipient,
        "sink": "jsonl",
        "view": "full",
        "digest": sha256_digest(b"written"),
        "delivered_at": datetime.now(UTC),
    } | fields
    return Receipt.model_validate(values)


async def test_sink_receipts_become_delivered_entries_and_the_log_verifies(
    js: JetStreamContext, nc: NatsClient, nats_server: NatsServer, tmp_path: Path
) -> None:
    async with audited_hub(nats_server.url, js) as (_, _, td, checkpoints):
        message, raw, jws = signed_message(td)
        await publish_signed(js, message, raw, jws)
        for cc, sink, options in [
            ("SV", "jsonl", {"path": "sv.jsonl"}),
            ("US", "folder", {"path": "us"}),
        ]:
            runner = system_runner(js, td, tmp_path, cc, sink, options)
            await runner.start()
            while await runner.run_once() == 0:
                pass  # until the hub's delivery has arrived (pytest-timeout bounds it)
            await runner.stop()
        entries = await wait_for_entries(js, holds(EntryKind.DELIVERED, 2))
        await receipts_settled(js)

    delivered = {e.recipient: e for e in of_kind(entries, EntryKind.DELIVERED)}
    assert set(delivered) == {"SV", "US"}
    assert all(e.message_id == message["id"] for e in delivered.values())
    assert (delivered["SV"].sink, delivered["US"].sink) == ("jsonl", "folder")
    # Each receipt names the DELIVERY message it answers; the hub checked it (no detail).
    sent = {m.subject.split(".")[2]: m.seq for m in await stream_msgs(js, "DELIVERY")}
    assert {r.recipient: r.delivery_seq for r in await read_receipts(js, td)} == sent
    assert [e.detail for e in delivered.values()] == [None, None]
    # Each entry names the signed receipt by its digest: a country can prove which one.
    receipts = {m.subject: m.data for m in await stream_msgs(js, "RECEIPTS")}
    assert delivered["SV"].digest == sha256_digest(receipts[receipt_subject("SV")])
    assert delivered["US"].digest == sha256_digest(receipts[receipt_subject("US")])
    # Routed before delivered, for each recipient, in the log's order.
    trail = [(e.kind, e.recipient) for e in entries if e.message_id == message["id"]]
    for cc in ("SV", "US"):
        assert trail.index((EntryKind.ROUTED, cc)) < trail.index((EntryKind.DELIVERED, cc))

    reader = AuditReader(js)
    report = verify_log(
        await reader.read_all(), await reader.checkpoints(), [checkpoints.verifier()]
    )
    assert report.ok, report.problem

    # The sender's ledger names each recipient's receipt, as the log has it.
    ledger = await EnlaceClient(nc).ledger(message["id"], message["sender"]["country"])
    assert ledger is not None
    rows = {r.country: r for r in ledger.rows()}
    assert {cc: (r.state, r.view) for cc, r in rows.items() if r.receipts} == {
        "SV": ("delivered", "full"),
        "US": ("delivered", "no-persons"),  # the view each received, as the outcome says
    }
    for cc, sink in (("SV", "jsonl"), ("US", "folder")):
        [receipt] = rows[cc].receipts
        assert (receipt.sink, receipt.receipt_digest) == (sink, delivered[cc].digest)

    # `enlace audit show ID` prints the delivered entries in the message's trail.
    args = ["--home", str(tmp_path / "home"), "audit", "show", message["id"], "--json"]
    out = await asyncio.to_thread(CliRunner().invoke, cli, [*args, "--nats-url", nats_server.url])
    assert out.exit_code == 0, out.output
    shown = [json.loads(line) for line in out.output.splitlines()]
    assert sorted(e["recipient"] for e in shown if e["kind"] == "delivered") == ["SV", "US"]


async def test_forged_receipts_are_rejected_on_the_record_and_never_count_as_delivered(
    js: JetStreamContext, nats_server: NatsServer
) -> None:
    async with audited_hub(nats_server.url, js) as (app, _, td, _):
        message, raw, jws = signed_message(td)
        await publish_signed(js, message, raw, jws)
        message_id, sv = message["id"], (await deliveries(js, 2))["SV"]
        # US signs a receipt claiming SV wrote the message.
        claim = answer(sv, message_id, "SV")
        forged = await _publish_receipt(js, td, "SV", "US", claim, "f1")
        # SV's own receipt, changed after signing (another sink name).
        altered = await _publish_receipt(
            js, td, "SV", "SV", claim, "f2", alter=lambda b: b.replace(b'"jsonl"', b'"folder"')
        )
        # A genuine dead-letter receipt from SV: on the record, as refused.
        dead = answer(sv, message_id, "SV", status=ReceiptStatus.DEAD_LETTERED, reason="tampered")
        await _publish_receipt(js, td, "SV", "SV", dead, "d1")
        entries = await wait_for_entries(
            js,
            lambda es: (
                len(of_kind(es, EntryKind.RECEIPT_REJECTED)) == 2
                and len(of_kind(es, EntryKind.DEAD_LETTERED)) == 1
            ),
        )
        await receipts_settled(js)  # terminated, not redelivered for ever
        sample = app.metrics.registry.get_sample_value
        assert sample("enlace_receipts_total", {"outcome": "receipt_rejected"}) == 2

    assert of_kind(entries, EntryKind.DELIVERED) == []
    rejected = {e.digest: e for e in of_kind(entries, EntryKind.RECEIPT_REJECTED)}
    assert rejected[sha256_digest(forged)].reason == "sender_mismatch"
    assert rejected[sha256_digest(altered)].reason == "bad_signature"
    assert all(e.country == "SV" and e.message_id == message_id for e in rejected.values())
    [refused] = of_kind(entries, EntryKind.DEAD_LETTERED)
    assert (refused.recipient, refused.sink, refused.reason) == ("SV", "jsonl", "tampered")


async def test_the_same_receipt_read_again_is_recorded_once(
    js: JetStreamContext, nats_server: NatsServer
) -> None:
    kit = governance()
    td = kit[0]
    async with audited_hub(nats_server.url, js, kit):
        message, raw, jws = signed_message(td)
        await publish_signed(js, message, raw, jws)
        receipt = answer((await deliveries(js, 2))["SV"], message["id"], "SV")
        await _publish_receipt(js, td, "SV", "SV", receipt, "r1")
        await wait_for_entries(js, holds(EntryKind.DELIVERED, 1))
        await receipts_settled(js)
    # As if the hub had died between the audit entry and the sender's ledger entry.
    told = ledger_subject("GT", message["id"], "SV", "jsonl")
    await js.purge_stream(outcome_stream("GT"), subject=told)
    # The hub restarted; the same bytes come again (a redelivery, past JetStream's dedup).
    async with audited_hub(nats_server.url, js, kit):
        kid = "sv-system-k1"
        raw, jws = sign_receipt(receipt, td.keys[kid], kid)
        await js.publish(receipt_subject("SV"), raw, headers={HDR_SIGNATURE: jws})
        await receipts_settled(js)
        entries = await audit_entries(js)
    assert len(of_kind(entries, EntryKind.DELIVERED)) == 1
    # Recorded once, told to the sender again: its ledger misses nothing the log holds.
    again = LedgerReceipt.from_json((await js.get_last_msg(outcome_stream("GT"), told)).data or b"")
    assert (again.status, again.receipt_digest) == (
        "delivered",
        of_kind(entries, EntryKind.DELIVERED)[0].digest,
    )


async def test_a_reload_verifies_the_next_receipts_against_the_new_directory(
    js: JetStreamContext, nats_server: NatsServer
) -> None:
    async with audited_hub(nats_server.url, js) as (app, _, old, _):
        message, raw, jws = signed_message(old)
        await publish_signed(js, message, raw, jws)
        out = await deliveries(js, 2)
        # New governance: every party key is new (same kids, other key material).
        new, gov, _ = governance()
        app.reload(gov)
        sv = answer(out["SV"], message["id"], "SV")
        by_new = await _publish_receipt(js, new, "SV", "SV", sv, "n1")
        by_old = await _publish_receipt(js, old, "SV", "SV", sv, "o1")
        entries = await wait_for_entries(js, holds(EntryKind.DELIVERED, 1))
        await receipts_settled(js)
        # A new register (as `enlace reload` after an adapters: change): US's folder sink
        # is gone, so its receipt is no longer one of a configured sink.
        app.sinks = {"SV": ("jsonl",), "US": ("webhook",)}
        app.reload(gov)
        us = answer(out["US"], message["id"], "US", sink="folder")
        removed = await _publish_receipt(js, new, "US", "US", us, "u1")
        entries = await wait_for_entries(js, holds(EntryKind.RECEIPT_REJECTED, 2))
        await receipts_settled(js)
    [delivered] = of_kind(entries, EntryKind.DELIVERED)
    assert delivered.digest == sha256_digest(by_new)
    rejected = {e.digest: e.reason for e in of_kind(entries, EntryKind.RECEIPT_REJECTED)}
    assert rejected == {
        sha256_digest(by_old): "bad_signature",
        sha256_digest(removed): ReceiptUnknownSink.code,
    }


async def test_signed_receipts_that_cannot_be_checked_or_do_not_answer_a_delivery_are_refused(
    js: JetStreamContext, nats_server: NatsServer
) -> None:
    async with audited_hub(nats_server.url, js) as (app, _, td, _):
        message, raw, jws = signed_message(td)
        await publish_signed(js, message, raw, jws)
        out = await deliveries(js, 2)  # GT's message to SV (full) and US (no-persons)
        mid, sv, us = message["id"], out["SV"], out["US"]
        # Each signed by SV's own system key: only the comparison with DELIVERY refuses them.
        forged = {
            # SV claims US's delivery (another party's sequence, same message).
            "other party": answer(us, mid, "SV"),
            # SV claims a message the hub never sent it, naming its own delivery.
            "other message": answer(sv, "01JB6X1Q8Y6Z3N4M5P7R8S9T0V", "SV"),
            # SV says it wrote bytes that are not what the hub sent.
            "wrong digest": answer(sv, mid, "SV", digest=sha256_digest(b"other bytes")),
            "wrong view": answer(sv, mid, "SV", view="no-persons"),
        }
        raws = {
            name: await _publish_receipt(js, td, "SV", "SV", receipt, f"x{i}")
            for i, (name, receipt) in enumerate(forged.items())
        }
        genuine = await _publish_receipt(js, td, "SV", "SV", answer(sv, mid, "SV"), "ok")
        # An adapter from before delivery_seq: nothing to check it against, so refused.
        old = answer(sv, mid, "SV", delivery_seq=None)
        older = await _publish_receipt(js, td, "SV", "SV", old, "old")
        # SV's delivery, truly answered, but by a sink nobody configured for SV.
        stranger = answer(sv, mid, "SV", sink="folder")
        unknown = await _publish_receipt(js, td, "SV", "SV", stranger, "stranger")
        entries = await wait_for_entries(js, holds(EntryKind.RECEIPT_REJECTED, 6))
        await receipts_settled(js)  # the rejected ones terminated, not redelivered for ever

        # DELIVERY's limits dropped US's delivery before its receipt was read.
        await js.delete_msg("DELIVERY", us.seq)
        theirs = answer(us, mid, "US", sink="folder")
        gone = await _publish_receipt(js, td, "US", "US", theirs, "gone")
        entries = await wait_for_entries(js, holds(EntryKind.RECEIPT_REJECTED, 7))
        await receipts_settled(js)
        sample = app.metrics.registry.get_sample_value
        assert sample("enlace_receipts_total", {"outcome": "receipt_rejected"}) == len(forged) + 3

    rejected = {e.digest: e for e in of_kind(entries, EntryKind.RECEIPT_REJECTED)}
    for name, raw_receipt in raws.items():
        entry = rejected[sha256_digest(raw_receipt)]
        assert (entry.reason, entry.country) == (ReceiptMismatch.code, "SV"), name
    assert rejected[sha256_digest(raws["other party"])].message_id == mid  # in its trail
    assert rejected[sha256_digest(older)].reason == ReceiptUnchecked.code
    assert rejected[sha256_digest(unknown)].reason == ReceiptUnknownSink.code
    assert (rejected[sha256_digest(gone)].reason, rejected[sha256_digest(gone)].country) == (
        ReceiptUnchecked.code,
        "US",
    )
    # Only the receipt that answers SV's delivery from SV's configured sink is a delivery.
    [delivered] = of_kind(entries, EntryKind.DELIVERED)
    assert (delivered.digest, delivered.sink, delivered.detail) == (
        sha256_digest(genuine),
        "jsonl",
        None,
    )

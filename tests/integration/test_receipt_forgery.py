"""Receipts that cannot lie: what SV can put on the record with its own NATS login and key.

A real nats-server with the deployment's nkey logins (:mod:`hub.server.logins`): the hub runs as
``hub`` with its audit log and the register of configured sinks (SV: ``jsonl``, US:
``folder``); GT publishes a gang movement as GT; SV's real sink runner, logged in as SV,
writes it and sends its receipt. Then SV, holding its own login and system key, forges:
each forgery is on the record as ``receipt_rejected`` with a reason code (or is refused by
NATS outright), and the one delivery stays recorded once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats
import pytest
from click.testing import CliRunner
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from adapters.runner import consumer_name
from hub.app import HubApp, create_app
from hub.audit import CheckpointSigner, EntryKind
from hub.cli import cli
from hub.config import HubSettings
from hub.deployment import Deployment
from hub.errors import ReceiptConflict, ReceiptMismatch, ReceiptUnchecked, ReceiptUnknownSink
from hub.pipeline.audit_hook import AuditLogHook
from hub.server.logins import HUB_USER, authorization_block, ensure_credentials, load_user
from hub.server.process import NatsServer
from schemas.countersign import sha256_digest
from schemas.receipts import Receipt, ReceiptStatus, sign_receipt
from schemas.subjects import HDR_MSG_ID, HDR_SIGNATURE, receipt_subject
from tests.factories import TestDirectory
from tests.integration.auditkit import open_audit_writer
from tests.integration.conftest import start_nats_server
from tests.integration.hubkit import PARTIES, governance, publish_signed, signed_message
from tests.integration.receiptkit import (
    answer,
    deliveries,
    holds,
    of_kind,
    receipts_settled,
    wait_for_entries,
)
from tests.integration.sinkkit import system_runner
from tests.integration.test_hub_permissions import Errors

pytestmark = pytest.mark.integration

SINKS = {"SV": ["jsonl"], "US": ["folder"]}  # enlace.yaml's adapters:, as the hub knows them
NO_SUCH_MESSAGE = "01JB6X1Q8Y6Z3N4M5P7R8S9T0V"


@pytest.fixture
def deployment(tmp_path: Path) -> Deployment:
    dep = Deployment(tmp_path / "home")
    ensure_credentials(dep, PARTIES)
    return dep


@pytest.fixture
def secured(deployment: Deployment, tmp_path: Path) -> Iterator[NatsServer]:
    consumers = {cc: [consumer_name(cc, name) for name in names] for cc, names in SINKS.items()}
    block = authorization_block(deployment, consumers)
    server = start_nats_server(tmp_path / "nats", authorization=block)
    yield server
    server.stop()


@dataclass
class Exchange:
    """The running hub and a login per party, on the secured server."""

    app: HubApp
    td: TestDirectory
    logins: dict[str, NatsClient]
    errors: dict[str, Errors]

    def js(self, who: str) -> JetStreamContext:
        return self.logins[who].jetstream(timeout=5)

    async def receipt(self, cc: str, receipt: Receipt, msg_id: str) -> bytes:
        """Publish ``receipt`` through ``cc``'s own login, signed by ``cc``'s system key."""
        kid = f"{cc.lower()}-system-k1"
        raw, jws = sign_receipt(receipt, self.td.keys[kid], kid)
        subject = receipt_subject(receipt.recipient)
        await self.js(cc).publish(subject, raw, headers={HDR_SIGNATURE: jws, HDR_MSG_ID: msg_id})
        return raw


@pytest.fixture
async def exchange(deployment: Deployment, secured: NatsServer) -> AsyncIterator[Exchange]:
    td, gov, signer = governance()
    errors = {who: Errors() for who in (HUB_USER, *PARTIES)}
    logins = {
        who: await nats.connect(
            secured.url,
            error_cb=errors[who].record,
            max_reconnect_attempts=0,
            **load_user(deployment, who).connect_options(),
        )
        for who in errors
    }
    hub_login = load_user(deployment, HUB_USER).connect_options()
    writer = await open_audit_writer(
        logins[HUB_USER].jetstream(), CheckpointSigner(signer.key, signer.kid), "enlace.test"
    )
    settings = HubSettings(nats_url=secured.url)
    app = create_app(
        settings, gov, signer, connect_options=hub_login, audit=AuditLogHook(writer), sinks=SINKS
    )
    await app.start()
    try:
        yield Exchange(app, td, logins, errors)
    finally:
        await app.stop()
        await writer.close()
        for nc in logins.values():
            await nc.close()


def _shown(deployment: Deployment, url: str, message_id: str) -> list[str]:
    """``enlace audit show ID`` as an operator reads it (through the operator login)."""
    args = ["--home", str(deployment.home), "audit", "show", message_id, "--nats-url", url]
    out = CliRunner().invoke(cli, args, env={"COLUMNS": "250"})
    assert out.exit_code == 0, out.output
    return out.output.splitlines()


async def test_forged_receipts_through_a_countrys_own_login_are_refused_on_the_record(
    exchange: Exchange, deployment: Deployment, secured: NatsServer, tmp_path: Path
) -> None:
    td, hub = exchange.td, exchange.js(HUB_USER)
    message, raw, jws = signed_message(td)
    await publish_signed(exchange.js("GT"), message, raw, jws)  # GT's own login
    mid, out = message["id"], await deliveries(hub)
    sv, us = out["SV"], out["US"]

    # SV's real sink, logged in as SV, writes the delivery and sends its receipt.
    runner = system_runner(exchange.js("SV"), td, tmp_path, "SV", "jsonl", {"path": "sv.jsonl"})
    await runner.start()
    while await runner.run_once() == 0:
        pass  # until the hub's delivery has arrived (pytest-timeout bounds it)
    await runner.stop()
    await wait_for_entries(hub, holds(EntryKind.DELIVERED, 1))

    dead = {"status": ReceiptStatus.DEAD_LETTERED, "reason": "tampered"}
    forged = {
        # Delivered, for a message that never existed, naming no DELIVERY message.
        ReceiptUnchecked.code: answer(
            sv, NO_SUCH_MESSAGE, "SV", "jsonl", delivery_seq=None, digest=sha256_digest(b"x")
        ),
        # Dead-lettered by a sink nobody configured, after SV's sink wrote it.
        ReceiptUnknownSink.code: answer(sv, mid, "SV", "ghost", **dead),
        # Dead-lettered by the very sink whose delivered receipt is on the record.
        ReceiptConflict.code: answer(sv, mid, "SV", "jsonl", **dead),
        # US's delivery of the same message, claimed as SV's.
        ReceiptMismatch.code: answer(us, mid, "SV", "jsonl"),
    }
    raws = {
        code: await exchange.receipt("SV", receipt, f"forged-{i}")
        for i, (code, receipt) in enumerate(forged.items())
    }
    # SV's genuine receipt signed again later: new bytes, new Nats-Msg-Id, same delivery.
    later = datetime.now(UTC) + timedelta(minutes=5)
    again = await exchange.receipt("SV", answer(sv, mid, "SV", "jsonl", delivered_at=later), "x")
    entries = await wait_for_entries(hub, holds(EntryKind.RECEIPT_REJECTED, 4))
    await receipts_settled(hub)

    # A receipt naming US as recipient, on US's subject: SV's login may not publish there.
    before = (await hub.stream_info("RECEIPTS")).state.messages
    kid = "sv-system-k1"
    us_raw, us_jws = sign_receipt(answer(us, mid, "US", "folder"), td.keys[kid], kid)
    await exchange.logins["SV"].publish(
        receipt_subject("US"), us_raw, headers={HDR_SIGNATURE: us_jws}
    )
    assert await exchange.errors["SV"].wait_for("permissions violation")
    assert (await hub.stream_info("RECEIPTS")).state.messages == before
    sample = exchange.app.metrics.registry.get_sample_value
    assert sample("enlace_receipts_total", {"outcome": "duplicate"}) == 1
    assert sample("enlace_receipts_total", {"outcome": "delivered"}) == 1

    rejected = {e.digest: e for e in of_kind(entries, EntryKind.RECEIPT_REJECTED)}
    for code, forged_raw in raws.items():
        entry = rejected[sha256_digest(forged_raw)]
        assert (entry.reason, entry.country) == (code, "SV"), code
    assert rejected[sha256_digest(raws[ReceiptUnchecked.code])].message_id == NO_SUCH_MESSAGE
    # On the record: SV's one delivery by jsonl, once, and nothing dead-lettered.
    [delivered] = of_kind(entries, EntryKind.DELIVERED)
    assert (delivered.message_id, delivered.recipient, delivered.sink) == (mid, "SV", "jsonl")
    assert delivered.digest != sha256_digest(again)  # the first receipt, not the re-signed one
    assert of_kind(entries, EntryKind.DEAD_LETTERED) == []

    # What an operator sees in the message's trail.
    trail = await asyncio.to_thread(_shown, deployment, secured.url, mid)
    assert len([line for line in trail if "SV via jsonl" in line]) == 1
    assert "refused" not in " ".join(trail)  # no dead_lettered line
    for code in (ReceiptUnknownSink.code, ReceiptConflict.code, ReceiptMismatch.code):
        assert len([line for line in trail if f"not accepted: {code}" in line]) == 1, code
    ghost = await asyncio.to_thread(_shown, deployment, secured.url, NO_SUCH_MESSAGE)
    assert [line for line in ghost if "receipt_rejected" in line and "SV" in line]
    assert not [line for line in ghost if "delivered" in line]


async def test_a_replayed_dead_letter_is_recorded_dead_lettered_then_delivered_each_once(
    exchange: Exchange,
) -> None:
    td, hub = exchange.td, exchange.js(HUB_USER)
    message, raw, jws = signed_message(td)
    await publish_signed(exchange.js("GT"), message, raw, jws)
    mid, us = message["id"], (await deliveries(hub))["US"]
    dead = answer(us, mid, "US", "folder", status=ReceiptStatus.DEAD_LETTERED, reason="x_y")
    replayed = answer(us, mid, "US", "folder")
    # Through US's own login, in the order a sink sends them; each twice, as new bytes.
    for i, receipt in enumerate([dead, dead, replayed, replayed]):
        await exchange.receipt("US", receipt.model_copy(update={"delivered_at": _now(i)}), f"u{i}")
    entries = await wait_for_entries(hub, holds(EntryKind.DELIVERED, 1))
    await receipts_settled(hub)
    trail = [(e.kind, e.sink, e.reason) for e in entries if e.recipient == "US"]
    assert trail == [
        (EntryKind.ROUTED, None, None),
        (EntryKind.DEAD_LETTERED, "folder", "x_y"),
        (EntryKind.DELIVERED, "folder", None),
    ]
    assert of_kind(entries, EntryKind.RECEIPT_REJECTED) == []
    sample = exchange.app.metrics.registry.get_sample_value
    assert sample("enlace_receipts_total", {"outcome": "duplicate"}) == 2


def _now(offset: int) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=offset)

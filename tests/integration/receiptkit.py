"""Shared pieces of the receipt integration tests: the audit log as it fills, the hub's
deliveries, and receipts that truly answer one of them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

from nats.js import JetStreamContext

from hub.app import HubApp, create_app
from hub.audit import AuditEntry, AuditReader, AuditWriter, CheckpointSigner, EntryKind, parse_entry
from hub.config import HubSettings
from hub.governance import Governance, HubSigner
from hub.jetstream.streams import RECEIPTS_CONSUMER
from hub.pipeline.audit_hook import AuditLogHook
from hub.testing import governance
from schemas.countersign import sha256_digest
from schemas.receipts import Receipt
from schemas.subjects import HDR_VIEW
from schemas.testing import TestDirectory
from tests.integration.auditkit import open_audit_writer

__all__ = [
    "SINKS",
    "Kit",
    "answer",
    "audit_entries",
    "audited_hub",
    "deliveries",
    "holds",
    "of_kind",
    "receipts_settled",
    "stream_msgs",
    "wait_for_entries",
]


async def audit_entries(js: JetStreamContext) -> list[AuditEntry]:
    """Every entry of the audit log, in order."""
    return [parse_entry(raw) for raw in await AuditReader(js).read_all()]


def of_kind(entries: list[AuditEntry], kind: EntryKind) -> list[AuditEntry]:
    return [e for e in entries if e.kind is kind]


def holds(kind: EntryKind, count: int) -> Callable[[list[AuditEntry]], bool]:
    """For :func:`wait_for_entries`: the log holds ``count`` entries of ``kind``."""
    return lambda entries: len(of_kind(entries, kind)) == count


async def wait_for_entries(
    js: JetStreamContext, done: Callable[[list[AuditEntry]], bool], seconds: float = 10.0
) -> list[AuditEntry]:
    """The audit log once ``done`` holds for it (an AssertionError naming what it holds)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        entries = await audit_entries(js)
        if done(entries):
            return entries
        if asyncio.get_running_loop().time() > deadline:
            kinds = [(e.kind.value, e.recipient, e.reason) for e in entries]
            raise AssertionError(f"audit log never got there; it holds {kinds}")
        await asyncio.sleep(0.05)


async def receipts_settled(js: JetStreamContext) -> None:
    """Every receipt on RECEIPTS was acked or terminated by the hub (nothing loops)."""
    for _ in range(200):
        info = await js.consumer_info("RECEIPTS", RECEIPTS_CONSUMER)
        if info.num_pending == 0 and info.num_ack_pending == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"receipts left unsettled: {info}")


async def stream_msgs(js: JetStreamContext, stream: str) -> list[Any]:
    """Every message ``stream`` holds, by direct reads."""
    info = await js.stream_info(stream)
    if not info.state.messages:
        return []
    return [
        await js.get_msg(stream, seq)
        for seq in range(info.state.first_seq, info.state.last_seq + 1)
    ]


async def deliveries(js: JetStreamContext, count: int = 2) -> dict[str, Any]:
    """The hub's DELIVERY messages by recipient, once there are ``count`` of them."""
    for _ in range(200):
        info = await js.stream_info("DELIVERY")
        if info.state.messages >= count:
            return {str(m.subject).split(".")[2]: m for m in await stream_msgs(js, "DELIVERY")}
        await asyncio.sleep(0.05)
    raise AssertionError("the hub never published the deliveries")


def answer(
    delivery: Any, message_id: str, recipient: str, sink: str = "jsonl", **fields: Any
) -> Receipt:
    """A receipt that truly answers ``delivery`` (but for what ``fields`` change)."""
    values: dict[str, Any] = {
        "message_id": message_id,
        "recipient": recipient,
        "sink": sink,
        "view": delivery.headers[HDR_VIEW],
        "digest": sha256_digest(delivery.data),
        "delivered_at": datetime.now(UTC),
        "delivery_seq": delivery.seq,
    }
    return Receipt.model_validate(values | fields)


Kit = tuple[TestDirectory, Governance, HubSigner]
SINKS = {"SV": ["jsonl"], "US": ["folder"]}  # the sinks configured (enlace.yaml adapters:)


@contextlib.asynccontextmanager
async def audited_hub(
    url: str, js: JetStreamContext, kit: Kit | None = None, **settings: Any
) -> AsyncIterator[tuple[HubApp, AuditWriter, TestDirectory, CheckpointSigner]]:
    """A hub app (``settings``: more :class:`HubSettings`) whose audit hook writes to a
    fresh (or continued) audit log."""
    td, gov, signer = kit or governance()
    checkpoints = CheckpointSigner(signer.key, signer.kid)
    writer = await open_audit_writer(js, checkpoints, "enlace.test/receipts")
    audit = AuditLogHook(writer)
    hub_settings = HubSettings(nats_url=url, **settings)
    app = create_app(hub_settings, gov, signer, audit=audit, sinks=SINKS)
    await app.start()
    try:
        yield app, writer, td, checkpoints
    finally:
        await app.stop()
        await writer.close()

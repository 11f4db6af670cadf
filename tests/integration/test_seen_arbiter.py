"""Replays refused by either arbiter of accepted ids, with one hub process or two.

``seen_ids: bucket`` (the default): the id's claim is a create in ``enlace_routes``
whose value is the message's routing record, naming its ingress message
(:class:`hub.pipeline.replay.SeenIds`). ``seen_ids: audit``: each accepted message's
``received`` entry is its id's claim (:mod:`hub.audit.seen`). Each test runs with both.
A replay (the id again, in another ingress message) is refused with the reason
``duplicate``, a notice, a quarantine copy and an audit entry:

1. after a hub restart (the audit index is rebuilt from the log; the bucket is read);
2. with two hub processes, the replay taken by the other one (with ``audit`` it learns
   the claim when its append meets the other's batch), and under a race of both;
3. near the end of the acceptance window (+ skew);
4. while a redelivery of the same ingress message (the hub stopped before its ack) is
   not refused, and not delivered twice;
5. after an upgrade, for ids an earlier version claimed in ``enlace_seen`` or routed.

The replays come from HN's stream with GT's id: JetStream's per-stream de-duplication
cannot catch them, only the hub can.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from hub.app import HubApp, create_app
from hub.audit import AuditEntry, AuditReader, CheckpointSigner, parse_entry
from hub.audit.entries import REDELIVERED
from hub.config import HubSettings
from hub.jetstream.buckets import ensure_kv
from hub.jetstream.streams import SEEN_BUCKET
from hub.pipeline.amendments import ROUTES_BUCKET
from hub.pipeline.audit_hook import AuditLogHook
from hub.pipeline.ingress import MessageContext
from hub.pipeline.intake import Intake
from hub.pipeline.quarantine import HDR_ORIGINAL_MSG_ID
from hub.pipeline.replay import SeenIds, kv_text
from schemas.govdoc import rfc3339
from schemas.subjects import HDR_MSG_ID, ingress_stream
from tests.integration.auditkit import open_audit_writer
from tests.integration.hubkit import (
    Collector,
    governance,
    outcome_of_sent,
    publish_signed,
    retraction_of,
    signed_message,
    stream_msgs,
)

pytestmark = pytest.mark.integration

TD, GOV, SIGNER = governance()
Sent = tuple[dict[str, Any], bytes, str]


@pytest.fixture(params=["bucket", "audit"])
def mode(request: pytest.FixtureRequest) -> str:
    """``hub.seen_ids``: where the ids are claimed."""
    return str(request.param)


@asynccontextmanager
async def audited_hub(
    url: str,
    mode: str,
    hook: Callable[[Any], AuditLogHook] = AuditLogHook,
    clock: Callable[[], datetime] | None = None,
    **settings: Any,
) -> AsyncIterator[HubApp]:
    """A hub process with its own audit writer on the shared log (as ``enlace up`` runs it).

    Args:
        url: the nats-server.
        mode: ``hub.seen_ids``.
        hook: the audit hook (tests make it fail).
        clock: the hub's clock.
        settings: more hub settings.
    """
    nc = await nats.connect(url)
    signer = CheckpointSigner(SIGNER.key, SIGNER.kid)
    writer = await open_audit_writer(nc.jetstream(), signer, "hub")
    hub_settings = HubSettings(nats_url=url, seen_ids=mode, **settings)
    app = create_app(hub_settings, GOV, SIGNER, audit=hook(writer), clock=clock)
    await app.start()
    try:
        yield app
    finally:
        await app.stop()
        await writer.close()
        await nc.close()


async def audit_entries(js: JetStreamContext, message_id: str) -> list[AuditEntry]:
    return [
        e
        for e in (parse_entry(raw) for raw in await AuditReader(js).read_all())
        if e.message_id == message_id
    ]


async def refused_as_duplicate(nc: NatsClient, js: JetStreamContext, replay: Sent) -> None:
    """Publish ``replay`` and check its refusal: outcome, notice, quarantine copy, audit."""
    message, raw, _ = replay
    cc = message["sender"]["country"]
    notices = Collector()
    sub = await nc.subscribe(f"enlace.rejected.{cc}", cb=notices.handler)
    outcome = await outcome_of_sent(nc, js, replay)
    await notices.wait(1)
    await sub.unsubscribe()
    assert (outcome["status"], outcome["reason"]) == ("rejected", "duplicate")
    assert [(n["message_id"], n["reason"]) for n in notices.json()] == [
        (message["id"], "duplicate")
    ]
    copies = [
        m
        for m in await stream_msgs(js, "QUARANTINE", f"enlace.quarantine.{cc}")
        if (m.headers or {}).get(HDR_ORIGINAL_MSG_ID) == message["id"]
    ]
    assert [m.data for m in copies] == [raw]
    entries = await audit_entries(js, message["id"])
    assert [(e.kind.value, e.reason) for e in entries if e.country == cc] == [
        ("rejected", "duplicate")
    ]
    # One claim: the accepted message's; the replay's refusal names its own ingress message.
    claims = [e.ingress or "" for e in entries if e.kind.value == "received"]
    assert len(claims) == 1 and claims[0].startswith(f"{ingress_stream('GT')}-")
    refusals = [e.ingress or "" for e in entries if e.kind.value == "rejected"]
    assert len(refusals) == 1 and refusals[0].startswith(f"{ingress_stream(cc)}-")
    # Nothing is claimed in the bucket of earlier versions; with ``bucket`` the routing
    # record of the accepted message holds the id.
    assert await kv_text(await js.key_value(SEEN_BUCKET), message["id"]) is None
    holder = await SeenIds(await js.key_value(ROUTES_BUCKET)).accepted_as(message["id"])
    assert holder is None or holder == claims[0]


async def holder(app: HubApp, message_id: str) -> str | None:
    """The ingress message that holds ``message_id`` in ``app``'s arbiter of ids."""
    seen = app.pipeline.seen if app.pipeline else None
    if isinstance(seen, SeenIds):
        return await seen.accepted_as(message_id)
    arbiter = app.audit.writer.arbiter if app.audit and app.audit.writer else None
    assert arbiter is not None
    return arbiter.index.holder(message_id)


def replay_pair(**fields: Any) -> tuple[Sent, Sent]:
    """GT's message, and HN's message under the same id (a replay of the id)."""
    original = signed_message(TD, "GT", **fields)
    return original, signed_message(TD, "HN", id=original[0]["id"], **fields)


async def test_a_replay_after_a_hub_restart_is_refused(nats_server: Any, mode: str) -> None:
    original, replay = replay_pair()
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    try:
        async with audited_hub(nats_server.url, mode):
            assert (await outcome_of_sent(nc, js, original))["status"] == "accepted"
        async with audited_hub(nats_server.url, mode) as again:  # a new process: index rebuilt
            await refused_as_duplicate(nc, js, replay)
            assert (await holder(again, original[0]["id"]) or "").startswith("INGRESS_GT-")
    finally:
        await nc.close()


async def test_a_replay_taken_by_the_other_hub_process_is_refused(
    nats_server: Any, mode: str
) -> None:
    """B starts before the original is accepted by A, and reads nothing until the replay:
    it learns A's claim only when its own append meets A's batch in the log."""
    original, replay = replay_pair()
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    try:
        async with audited_hub(nats_server.url, mode) as a, audited_hub(nats_server.url, mode) as b:
            assert a.intake is not None and b.intake is not None and b.pipeline is not None
            await b.intake.stop()  # A alone takes the original
            assert (await outcome_of_sent(nc, js, original))["status"] == "accepted"
            await a.intake.stop()  # B alone takes the replay
            arbiter = b.audit.writer.arbiter if b.audit and b.audit.writer else None
            assert (arbiter is None) == (mode == "bucket")
            assert arbiter is None or arbiter.index.holder(original[0]["id"]) is None
            b.intake = Intake(js, b.pipeline, b.settings)
            await b.intake.add(ingress_stream("HN"))
            await refused_as_duplicate(nc, js, replay)
            assert (await holder(b, original[0]["id"]) or "").startswith("INGRESS_GT-")
    finally:
        await nc.close()


async def test_two_hub_processes_racing_accept_each_id_once(nats_server: Any, mode: str) -> None:
    """GT's and HN's messages under one id, 40 ids, all published at once to two hubs:
    each id is accepted once, the other refused, and every delivery is the winner's."""
    pairs = [replay_pair() for _ in range(40)]
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    outcomes = Collector()
    try:
        async with audited_hub(nats_server.url, mode), audited_hub(nats_server.url, mode):
            sub = await nc.subscribe("enlace.outcome.>", cb=outcomes.handler)
            await asyncio.gather(*(publish_signed(js, *sent) for pair in pairs for sent in pair))
            await outcomes.wait(len(pairs) * 2, seconds=60)
            await sub.unsubscribe()
        deliveries = await stream_msgs(js, "DELIVERY", "enlace.out.>")
        entries = [parse_entry(raw) for raw in await AuditReader(js).read_all()]
    finally:
        await nc.close()

    ids = {pair[0][0]["id"] for pair in pairs}
    claims = [e for e in entries if e.kind.value == "received" and e.message_id in ids]
    winner = {e.message_id: e.country for e in claims}
    assert len(claims) == len(pairs) == len(winner)  # one claim per id
    # The winner's outcome (GT's is delivered, HN's goes to nobody), the other refused.
    won = {"GT": "accepted", "HN": "undeliverable"}
    by_id: dict[str, list[str]] = {}
    for doc in outcomes.json():
        by_id.setdefault(doc["message_id"], []).append(doc.get("reason") or doc["status"])
    assert {mid: sorted(got) for mid, got in by_id.items()} == {
        mid: sorted([won[cc or ""], "duplicate"]) for mid, cc in winner.items()
    }
    # Every delivery is of the message whose claim won, once per recipient: GT's goes
    # to SV and US; HN's to nobody, so GT's body must not have been delivered then.
    delivered: dict[str, list[tuple[str, str]]] = {mid: [] for mid in ids}
    for m in deliveries:
        body = json.loads(m.data)
        if body["id"] in ids:
            header = (m.headers or {}).get(HDR_MSG_ID, "")
            delivered[body["id"]].append((header, body["sender"]["country"]))
    assert {mid: sorted(got) for mid, got in delivered.items()} == {
        mid: [(f"{mid}:SV", "GT"), (f"{mid}:US", "GT")] if cc == "GT" else []
        for mid, cc in winner.items()
    }


async def test_a_replay_near_the_end_of_the_window_is_refused(nats_server: Any, mode: str) -> None:
    """Issued 4 min ahead (inside the 5 min skew), replayed 24 h 3 min later: still inside
    the window, so only the claim can refuse it; a minute later the window does."""
    now = datetime.now(UTC)
    original, replay = replay_pair(issued_at=rfc3339(now + timedelta(minutes=4)))
    late = now + timedelta(hours=24, minutes=3)
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    try:
        async with audited_hub(nats_server.url, mode):
            assert (await outcome_of_sent(nc, js, original))["status"] == "accepted"
        async with audited_hub(
            nats_server.url, mode, clock=lambda: late + (datetime.now(UTC) - now)
        ):
            await refused_as_duplicate(nc, js, replay)
        _, too_late = replay_pair(issued_at=rfc3339(now + timedelta(minutes=4)))
        later = now + timedelta(hours=24, minutes=5)
        async with audited_hub(
            nats_server.url, mode, clock=lambda: later + (datetime.now(UTC) - now)
        ):
            outcome = await outcome_of_sent(nc, js, too_late)
        assert (outcome["status"], outcome["reason"]) == ("rejected", "too_old")
    finally:
        await nc.close()


class StopsBeforeTheAck(AuditLogHook):
    """The first accepted message's outcome entries fail after its deliveries are written:
    it is not acked, as if the hub died there."""

    def __init__(self, writer: Any) -> None:
        super().__init__(writer)
        self.failed = asyncio.Event()

    def record(self, context: MessageContext) -> Awaitable[object]:
        if context.envelope is None or self.failed.is_set():
            return super().record(context)
        self.failed.set()

        async def died() -> None:
            raise RuntimeError("the hub died before the ack")

        return died()


async def test_a_redelivery_after_a_restart_is_no_replay_and_not_delivered_twice(
    nats_server: Any,
    mode: str,
) -> None:
    message, raw, jws = signed_message(TD)
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    outcomes = Collector()
    sub = await nc.subscribe("enlace.outcome.GT.>", cb=outcomes.handler)
    try:
        async with audited_hub(nats_server.url, mode, StopsBeforeTheAck) as first:
            await publish_signed(js, message, raw, jws)
            assert isinstance(first.audit, StopsBeforeTheAck)
            await asyncio.wait_for(first.audit.failed.wait(), 10)
        async with audited_hub(nats_server.url, mode) as second:  # it gets the redelivery
            await outcomes.wait(1, seconds=30)
            held = await holder(second, message["id"])
        deliveries = await stream_msgs(js, "DELIVERY", "enlace.out.>")
        entries = await audit_entries(js, message["id"])
    finally:
        await sub.unsubscribe()
        await nc.close()

    assert [(d["status"], d.get("reason") or None) for d in outcomes.json()] == [("accepted", None)]
    copies = [(m.headers or {}).get(HDR_MSG_ID, "") for m in deliveries]
    assert sorted(c for c in copies if c.startswith(message["id"])) == [
        f"{message['id']}:SV",
        f"{message['id']}:US",
    ]
    claims = [(e.kind.value, e.detail, e.ingress) for e in entries if e.ingress]
    # With ``audit`` the first try's claim is its entry; with ``bucket`` that try wrote
    # its claim in the bucket and no entry (they come with the outcome, which failed).
    first_try = [("received", None)] if mode == "audit" else []
    assert [c[:2] for c in claims] == [*first_try, ("received", REDELIVERED)]
    assert {c[2] for c in claims} == {held}  # the same ingress message: a redelivery
    assert [e.recipient for e in entries if e.kind.value == "routed"] == ["SV", "US"]


async def test_a_claim_an_earlier_version_left_in_the_bucket_is_held(
    nats_server: Any, mode: str
) -> None:
    """An upgrade: the old hub claimed the id in KV ``enlace_seen`` (and stopped); the new
    hub reads the bucket at start and refuses the replay of that id."""
    _, replay = replay_pair()
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    try:
        old = SeenIds(await ensure_kv(js, SEEN_BUCKET, 3600, 1))
        await old.claim(replay[0]["id"], "INGRESS_GT-999")
        await old.claim("released-1", "INGRESS_GT-998")
        await old.release("released-1", "INGRESS_GT-998")  # the old hub gave up on it
        async with audited_hub(nats_server.url, mode) as app:
            outcome = await outcome_of_sent(nc, js, replay)
            assert await holder(app, "released-1") is None
            assert await holder(app, replay[0]["id"]) == "INGRESS_GT-999"
    finally:
        await nc.close()
    assert (outcome["status"], outcome["reason"]) == ("rejected", "duplicate")


class FailsOnAccepted(AuditLogHook):
    """The outcome entries of every accepted message fail (a bug): it becomes poison."""

    def record(self, context: MessageContext) -> Awaitable[object]:
        if context.envelope is None:
            return super().record(context)

        async def broken() -> None:
            raise RuntimeError("audit store broken")

        return broken()


async def test_a_message_the_hub_gave_up_on_releases_its_id(nats_server: Any, mode: str) -> None:
    """Quarantined as ``hub_error`` after 2 tries (its deliveries were written, its audit
    entries failed): the claim is released, in this process and in the next one (rebuilt
    from the log), and its routing record kept: its sender can still retract it where it
    may have arrived. Retracted, its id stays taken (a message sent again under it would
    reopen a chain its recipients saw withdrawn, and their sinks, idempotent by id, would
    keep the retracted copy): the routing record says so (``bucket``), or the retraction's
    ``received`` entry in the log (``audit``)."""
    original, again = replay_pair()
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    try:
        async with audited_hub(nats_server.url, mode, FailsOnAccepted, poison_after=2) as app:
            outcome = await outcome_of_sent(nc, js, original)
            assert await holder(app, original[0]["id"]) is None
        async with audited_hub(nats_server.url, mode):
            withdrawn = await outcome_of_sent(nc, js, retraction_of(TD, original[0]["id"]))
            sent_again = await outcome_of_sent(nc, js, again)
    finally:
        await nc.close()
    assert (outcome["status"], outcome["reason"]) == ("rejected", "hub_error")
    assert withdrawn["status"] == "accepted"
    assert {r["country"] for r in withdrawn["recipients"]} == {"SV", "US"}
    assert (sent_again["status"], sent_again["reason"]) == ("rejected", "duplicate")
    assert "corrected or retracted since" in sent_again["description"]

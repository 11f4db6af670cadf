"""The hub pipeline end to end on a real nats-server: routes, views, refusals, notices."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from hub.app import HubApp, create_app
from hub.audit import AuditReader, CheckpointSigner, parse_entry
from hub.config import HubSettings
from hub.governance import Governance, HubSigner
from hub.pipeline.amendments import ROUTES_BUCKET
from hub.pipeline.audit_hook import AuditLogHook
from hub.pipeline.ingress import MessageContext
from hub.pipeline.quarantine import HDR_REASON_DESCRIPTION
from hub.pipeline.replay import SeenIds
from schemas.countersign import sha256_digest, verify_countersignature
from schemas.govdoc import rfc3339
from schemas.jws import sign_detached
from schemas.subjects import (
    HDR_COUNTERSIGNATURE,
    HDR_MSG_ID,
    HDR_ORIGINAL_DIGEST,
    HDR_REASON,
    HDR_SIGNATURE,
    HDR_VIEW,
)
from tests.factories import TestDirectory
from tests.integration.auditkit import open_audit_writer
from tests.integration.hubkit import (
    Collector,
    ensure,
    governance,
    hub_running,
    publish_signed,
    signed_message,
    stream_msgs,
)

pytestmark = pytest.mark.integration

TD, GOV, SIGNER = governance()


@pytest.fixture
async def hub(nats_server: Any) -> AsyncIterator[HubApp]:
    async with hub_running(nats_server.url, GOV, SIGNER, workers=2) as app:
        yield app


@pytest.fixture
async def js(nc: NatsClient, hub: HubApp) -> JetStreamContext:
    return await ensure(nc)


async def outcome_of(
    nc: NatsClient, js: JetStreamContext, message: dict[str, Any], raw: bytes, jws: str, **kw: Any
) -> dict[str, Any]:
    """Publish and wait for the hub's outcome of this message."""
    cc = message["sender"]["country"]
    got = Collector()
    sub = await nc.subscribe(f"enlace.outcome.{cc}.>", cb=got.handler)
    await publish_signed(js, message, raw, jws, **kw)
    deadline = asyncio.get_running_loop().time() + 10
    try:
        while True:
            for doc in got.json():
                if doc["message_id"] == message["id"]:
                    return doc
            assert asyncio.get_running_loop().time() < deadline, "no outcome"
            await asyncio.sleep(0.02)
    finally:
        await sub.unsubscribe()


async def deliveries_of(js: JetStreamContext, message_id: str) -> dict[str, Any]:
    msgs = await stream_msgs(js, "DELIVERY", "enlace.out.>")
    return {
        m.subject.split(".")[2]: m
        for m in msgs
        if (m.headers or {}).get(HDR_MSG_ID, "").startswith(f"{message_id}:")
    }


async def test_gt_report_reaches_exactly_the_agreed_recipients_in_their_views(
    nc: NatsClient, js: JetStreamContext
) -> None:
    message, raw, jws = signed_message(TD)
    outcome = await outcome_of(nc, js, message, raw, jws)

    assert outcome["status"] == "accepted"
    assert {r["country"]: r["view"] for r in outcome["recipients"]} == {
        "SV": "full",
        "US": "no-persons",
    }
    got = await deliveries_of(js, message["id"])
    assert set(got) == {"SV", "US"}  # HN, a party without a flow from GT, gets nothing
    sv, us = got["SV"], got["US"]
    assert sv.subject == "enlace.out.SV.gangs.gang_movement"
    assert sv.data == raw  # the full view is the very bytes GT signed
    assert sv.headers[HDR_SIGNATURE] == jws
    assert sv.headers[HDR_VIEW] == "full"
    assert HDR_COUNTERSIGNATURE not in sv.headers
    view = json.loads(us.data)
    assert "persons" not in view["payload"]
    assert view["payload"]["gang"] == message["payload"]["gang"]
    assert us.headers[HDR_VIEW] == "no-persons"
    assert us.headers[HDR_ORIGINAL_DIGEST] == sha256_digest(raw)
    verify_countersignature(
        TD.directory,
        us.headers[HDR_COUNTERSIGNATURE],
        message["id"],
        sha256_digest(raw),
        "US",
        "no-persons",
        us.data,
    )


async def test_partial_refusal_is_reported_with_the_countries_refused(
    nc: NatsClient, js: JetStreamContext
) -> None:
    message, raw, jws = signed_message(TD, to=["SV", "HN"])
    outcome = await outcome_of(nc, js, message, raw, jws)

    assert outcome["status"] == "partial"
    assert [r["country"] for r in outcome["recipients"]] == ["SV"]
    assert [(r["country"], r["reason"]) for r in outcome["refused"]] == [("HN", "no_agreement")]
    assert set(await deliveries_of(js, message["id"])) == {"SV"}
    notices = [json.loads(m.data) for m in await stream_msgs(js, "REJECTED", "enlace.rejected.GT")]
    assert any(n["message_id"] == message["id"] and n["status"] == "partial" for n in notices)


async def test_message_no_agreement_lets_through_is_undeliverable(
    nc: NatsClient, js: JetStreamContext
) -> None:
    message, raw, jws = signed_message(TD, cc="HN")
    outcome = await outcome_of(nc, js, message, raw, jws)

    assert outcome["status"] == "undeliverable"
    assert outcome["reason"] == "undeliverable"
    # Each other party, with its own reason: here no agreement has a flow from HN.
    assert sorted((r["country"], r["reason"]) for r in outcome["refused"]) == [
        (cc, "no_agreement") for cc in sorted(TD.directory.party_codes) if cc != "HN"
    ]
    others = ", ".join(cc for cc in sorted(TD.directory.party_codes) if cc != "HN")
    assert outcome["description"].endswith(
        f"delivered to nobody: no agreement has a flow from the sender to this country for "
        f"this type (no_agreement: {others})"
    )
    assert await deliveries_of(js, message["id"]) == {}
    notices = [json.loads(m.data) for m in await stream_msgs(js, "REJECTED", "enlace.rejected.HN")]
    assert [n["status"] for n in notices if n["message_id"] == message["id"]] == ["undeliverable"]


def _tampered(td: TestDirectory) -> tuple[dict[str, Any], bytes, str, dict[str, Any]]:
    message, raw, jws = signed_message(td)
    return message, raw.replace(b"Barrio 18", b"Barrio 19"), jws, {}


def _unsigned(td: TestDirectory) -> tuple[dict[str, Any], bytes, str, dict[str, Any]]:
    message, raw, _ = signed_message(td)
    return message, raw, "", {}


def _wrong_subject(td: TestDirectory) -> tuple[dict[str, Any], bytes, str, dict[str, Any]]:
    message, raw, jws = signed_message(td)
    return message, raw, jws, {"subject": "enlace.in.GT.narcotics.gang_movement"}


def _other_pocs_key(td: TestDirectory) -> tuple[dict[str, Any], bytes, str, dict[str, Any]]:
    message, raw, _ = signed_message(td)
    kid = td.poc_kid("SV", "gangs")
    return message, raw, sign_detached(raw, td.keys[kid], kid), {}


def _schema_invalid(td: TestDirectory) -> tuple[dict[str, Any], bytes, str, dict[str, Any]]:
    message, _, _ = signed_message(td)
    message["payload"]["group_size"] = "many"
    raw, jws = td.sign(message)
    return message, raw, jws, {}


def _too_old(td: TestDirectory) -> tuple[dict[str, Any], bytes, str, dict[str, Any]]:
    issued = datetime.now(UTC) - timedelta(hours=25)
    message, raw, jws = signed_message(td, issued_at=rfc3339(issued))
    return message, raw, jws, {}


def _from_future(td: TestDirectory) -> tuple[dict[str, Any], bytes, str, dict[str, Any]]:
    issued = datetime.now(UTC) + timedelta(minutes=30)
    message, raw, jws = signed_message(td, issued_at=rfc3339(issued))
    return message, raw, jws, {}


def _malformed(td: TestDirectory) -> tuple[dict[str, Any], bytes, str, dict[str, Any]]:
    message, _, _ = signed_message(td)
    raw = b'{"id": "' + message["id"].encode() + b'", oops'
    kid = td.poc_kid("GT", "gangs")
    return message, raw, sign_detached(raw, td.keys[kid], kid), {}


def _too_large(td: TestDirectory) -> tuple[dict[str, Any], bytes, str, dict[str, Any]]:
    message, _, _ = signed_message(td)
    message["payload"]["summary"] = "x" * (1024 * 1024)
    raw, jws = td.sign(message)
    return message, raw, jws, {}


CASES = {
    "bad_signature": _tampered,
    "malformed_signature": _unsigned,
    "subject_mismatch": _wrong_subject,
    "sender_mismatch": _other_pocs_key,
    "schema_invalid": _schema_invalid,
    "too_old": _too_old,
    "issued_in_future": _from_future,
    "malformed_json": _malformed,
    "too_large": _too_large,
}


@pytest.mark.parametrize("reason", sorted(CASES))
async def test_each_refusal_notifies_the_sender_quarantines_and_delivers_nothing(
    nc: NatsClient, js: JetStreamContext, reason: str
) -> None:
    message, raw, jws, kw = CASES[reason](TD)
    outcome = await outcome_of(nc, js, message, raw, jws, **kw)

    assert (outcome["status"], outcome["reason"]) == ("rejected", reason)
    assert outcome["description"]
    notices = [json.loads(m.data) for m in await stream_msgs(js, "REJECTED", "enlace.rejected.>")]
    mine = [n for n in notices if n["message_id"] == message["id"]]
    assert [(n["status"], n["reason"]) for n in mine] == [("rejected", reason)]
    assert {
        m.subject
        for m in await stream_msgs(js, "REJECTED", "enlace.rejected.>")
        if json.loads(m.data)["message_id"] == message["id"]
    } == {"enlace.rejected.GT"}  # to the sender only
    copies = [
        m
        for m in await stream_msgs(js, "QUARANTINE", "enlace.quarantine.GT")
        if (m.headers or {}).get("Enlace-Original-Msg-Id") == message["id"]
    ]
    assert len(copies) == 1
    assert copies[0].data == raw  # byte-identical
    headers = copies[0].headers or {}
    assert headers[HDR_REASON] == reason
    assert headers[HDR_REASON_DESCRIPTION]
    if jws:
        assert headers[HDR_SIGNATURE] == jws
    assert await deliveries_of(js, message["id"]) == {}


async def test_a_second_message_with_an_accepted_id_is_refused_as_duplicate(
    nc: NatsClient, js: JetStreamContext
) -> None:
    message, raw, jws = signed_message(TD)
    first = await outcome_of(nc, js, message, raw, jws)
    # A replay that slips past JetStream's de-duplication (another Nats-Msg-Id, or later
    # than its window) still carries the same message id.
    got = Collector()
    sub = await nc.subscribe("enlace.outcome.GT.>", cb=got.handler)
    await js.publish(
        "enlace.in.GT.gangs.gang_movement",
        raw,
        headers={HDR_SIGNATURE: jws, HDR_MSG_ID: message["id"] + "-again"},
    )
    await got.wait(1)
    await sub.unsubscribe()

    assert first["status"] == "accepted"
    assert (got.json()[0]["status"], got.json()[0]["reason"]) == ("rejected", "duplicate")
    assert set(await deliveries_of(js, message["id"])) == {"SV", "US"}  # once each


async def test_reload_applies_new_agreements_to_the_next_message(
    nc: NatsClient, js: JetStreamContext, hub: HubApp
) -> None:
    empty = Governance(directory=GOV.directory, agreements=type(GOV.agreements).of(()))
    hub.reload(empty)
    message, raw, jws = signed_message(TD)
    outcome = await outcome_of(nc, js, message, raw, jws)
    hub.reload(GOV)

    assert outcome["status"] == "undeliverable"


def test_signer_is_the_directory_hub_key() -> None:
    assert isinstance(SIGNER, HubSigner)
    assert TD.directory.hub_key().kid == SIGNER.kid


async def test_every_decision_is_in_the_audit_log_before_the_ack(nats_server: Any) -> None:
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    writer = await open_audit_writer(js, CheckpointSigner(SIGNER.key, SIGNER.kid), "hub")
    app = create_app(HubSettings(nats_url=nats_server.url), GOV, SIGNER, audit=AuditLogHook(writer))
    await app.start()
    try:
        accepted, raw, jws = signed_message(TD)
        assert (await outcome_of(nc, js, accepted, raw, jws))["status"] == "accepted"
        refused, raw, jws = signed_message(TD)
        assert (await outcome_of(nc, js, refused, raw, b"x".decode()))["status"] == "rejected"
        entries = [parse_entry(e) for e in await AuditReader(js).read_all()]
    finally:
        await app.stop()
        await writer.close()
        await nc.close()

    mine = [(e.kind.value, e.recipient) for e in entries if e.message_id == accepted["id"]]
    assert mine == [("received", None), ("routed", "SV"), ("routed", "US"), ("not_routed", None)]
    # Every other party's decision is on the record too, each with its reason code.
    not_routed = next(e for e in entries if e.message_id == accepted["id"] and e.refused)
    refused_to = {r.country: r.reason for r in not_routed.refused or ()}
    assert set(refused_to) | {"SV", "US"} == {p.code for p in TD.directory.parties}
    assert refused_to[accepted["sender"]["country"]] == "sender_self"
    assert [(e.kind.value, e.reason) for e in entries if e.message_id == refused["id"]] == [
        ("rejected", "malformed_signature")
    ]


class BrokenForAccepted:
    """An audit hook that fails on every accepted message (a bug, a broken store)."""

    writer = None  # no audit log: nowhere to record receipts

    async def record(self, context: MessageContext) -> None:
        if context.envelope is not None:
            raise RuntimeError("audit store broken")


async def test_a_message_the_hub_keeps_failing_on_is_quarantined_not_lost(
    nats_server: Any,
) -> None:
    settings = HubSettings(nats_url=nats_server.url, poison_after=2)
    app = create_app(settings, GOV, SIGNER, audit=BrokenForAccepted())
    await app.start()
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        message, raw, jws = signed_message(TD)
        outcome = await outcome_of(nc, js, message, raw, jws)
        copies = [
            m
            for m in await stream_msgs(js, "QUARANTINE", "enlace.quarantine.GT")
            if (m.headers or {}).get("Enlace-Original-Msg-Id") == message["id"]
        ]
        claimed = await SeenIds(await js.key_value(ROUTES_BUCKET)).accepted_as(message["id"])
    finally:
        await app.stop()
        await nc.close()

    assert (outcome["status"], outcome["reason"]) == ("rejected", "hub_error")
    assert [m.data for m in copies] == [raw]
    assert claimed is None  # released: once fixed, the same message may be sent again

"""``no_onward`` on a real nats-server: passing a message on needs its sender's consent.

GT sends a ``no_onward`` report to SV. SV's message ``derived_from`` it is refused
(``onward_not_allowed``: notice, quarantine copy, nothing delivered) until it carries GT's
signed consent for SV; a consent signed by another country, or given to another country,
does not do. The hub remembers across its restart (a key-value bucket).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NatsClient

from adapters.client import EnlaceClient, PublishResult
from hub.app import create_app
from hub.audit import AuditReader, CheckpointSigner
from hub.audit.entries import parse_entry
from hub.config import HubSettings
from hub.jetstream.streams import ONWARD_BUCKET
from hub.pipeline.audit_hook import AuditLogHook
from hub.server.process import NatsServer
from schemas.handling import Consent, sign_consent
from schemas.subjects import HDR_REASON
from tests.integration.auditkit import open_audit_writer
from tests.integration.hubkit import governance, hub_running, signed_message, stream_msgs

pytestmark = pytest.mark.integration

TD, GOV, SIGNER = governance()


def consent_of(original: str, by: str, kid: str = "gt-system-k1", sender: str = "GT") -> Any:
    consent = Consent(message_id=original, sender=sender, by=by, issued_at=datetime.now(UTC))
    return sign_consent(consent, TD.keys[kid], kid).model_dump(mode="json")


async def send(nc: NatsClient, cc: str, **fields: Any) -> tuple[dict[str, Any], PublishResult]:
    message, raw, jws = signed_message(TD, cc, **fields)
    return message, await EnlaceClient(nc).publish(raw, jws)


def reason(result: PublishResult) -> tuple[str, str | None]:
    assert result.outcome is not None
    return result.status, result.outcome.reason


async def test_passing_on_needs_the_senders_consent_across_a_hub_restart(
    server: NatsServer,
) -> None:
    nc = await nats.connect(server.url)
    try:
        async with hub_running(server.url, GOV, SIGNER):
            original, sent = await send(nc, "GT", conditions={"no_onward": True})
            free, sent_free = await send(nc, "GT")  # no condition: may be passed on
            derived, refused = await send(nc, "SV", derived_from=[original["id"]])
            _, from_free = await send(nc, "SV", derived_from=[free["id"]])
            _, by_itself = await send(nc, "GT", derived_from=[original["id"]])
        assert sent.status == sent_free.status == "accepted"
        assert reason(refused) == ("rejected", "onward_not_allowed")
        assert refused.outcome is not None
        assert original["id"] in refused.outcome.description
        assert "enlace consent" in refused.outcome.description
        assert from_free.status == "accepted"
        assert by_itself.status == "accepted"  # the sender builds on its own report

        async with hub_running(server.url, GOV, SIGNER):  # a new hub: the bucket remembers
            _, again = await send(nc, "SV", derived_from=[original["id"]])
            forged = consent_of(original["id"], "SV", kid="hn-system-k1")  # HN says GT agrees
            _, with_forged = await send(nc, "SV", derived_from=[original["id"]], consents=[forged])
            elsewhere = consent_of(original["id"], "HN")  # GT lets HN, not SV, pass it on
            _, for_another = await send(
                nc, "SV", derived_from=[original["id"]], consents=[elsewhere]
            )
            good = consent_of(original["id"], "SV")
            changed = dict(good, consent=dict(good["consent"], by="US"))
            _, tampered = await send(nc, "US", derived_from=[original["id"]], consents=[changed])
            poc_consent = consent_of(original["id"], "SV", kid="gt-gangs-k1")
            _, allowed = await send(nc, "SV", derived_from=[original["id"]], consents=[good])
            _, by_poc = await send(nc, "SV", derived_from=[original["id"]], consents=[poc_consent])
        assert reason(again) == ("rejected", "onward_not_allowed")
        assert reason(with_forged) == ("rejected", "onward_not_allowed")
        assert with_forged.outcome is not None
        assert "sender_mismatch" in with_forged.outcome.description
        assert reason(for_another) == ("rejected", "onward_not_allowed")
        assert reason(tampered) == ("rejected", "onward_not_allowed")
        assert tampered.outcome is not None
        assert "bad_signature" in tampered.outcome.description
        assert allowed.status == "accepted"
        assert allowed.outcome is not None
        assert [r.country for r in allowed.outcome.recipients] == ["GT"]
        assert by_poc.status == "accepted"

        js = nc.jetstream()
        notices = [
            json.loads(m.data) for m in await stream_msgs(js, "REJECTED", "enlace.rejected.SV")
        ]
        assert (derived["id"], "onward_not_allowed") in {
            (n["message_id"], n["reason"]) for n in notices
        }
        copies = [
            m
            for m in await stream_msgs(js, "QUARANTINE", "enlace.quarantine.SV")
            if (m.headers or {}).get("Enlace-Original-Msg-Id") == derived["id"]
        ]
        assert [(m.headers or {}).get(HDR_REASON) for m in copies] == ["onward_not_allowed"]
        delivered = {
            json.loads(m.data)["id"] for m in await stream_msgs(js, "DELIVERY", "enlace.out.>")
        }
        assert derived["id"] not in delivered
        kv = await js.key_value(ONWARD_BUCKET)
        assert (await kv.get(original["id"])).value == b"GT"
        with pytest.raises(nats.js.errors.KeyNotFoundError):
            await kv.get(free["id"])
    finally:
        await nc.close()


async def test_a_refused_message_may_come_again_with_the_consent(server: NatsServer) -> None:
    """The refusal does not claim the id: the same message, consent attached, is new to
    the hub (once JetStream's de-duplication window has passed)."""
    nc = await nats.connect(server.url)
    try:
        async with hub_running(server.url, GOV, SIGNER, streams={"ingress_duplicate_window": "1s"}):
            original, _ = await send(nc, "GT", conditions={"no_onward": True})
            derived, refused = await send(nc, "SV", derived_from=[original["id"]])
            await asyncio.sleep(1.5)  # JetStream forgets the Nats-Msg-Id
            _, fixed = await send(
                nc,
                "SV",
                id=derived["id"],
                derived_from=[original["id"]],
                consents=[consent_of(original["id"], "SV")],
            )
        assert reason(refused) == ("rejected", "onward_not_allowed")
        assert fixed.status == "accepted"
    finally:
        await nc.close()


async def test_the_audit_log_records_the_conditions_and_the_refusal(server: NatsServer) -> None:
    """The received entry names the conditions (not the note's words); the refusal of a
    message passed on without consent is on the record with its reason code."""
    secret = "fuente humana en Ocotepeque"
    nc = await nats.connect(server.url)
    js = nc.jetstream()
    writer = await open_audit_writer(js, CheckpointSigner(SIGNER.key, SIGNER.kid), "hub")
    app = create_app(HubSettings(nats_url=server.url), GOV, SIGNER, audit=AuditLogHook(writer))
    await app.start()
    try:
        conditions = {"no_onward": True, "note": secret}
        original, sent = await send(nc, "GT", conditions=conditions)
        derived, refused = await send(nc, "SV", derived_from=[original["id"]])
        raw_entries = await AuditReader(js).read_all()
    finally:
        await app.stop()
        await writer.close()
        await nc.close()

    assert sent.status == "accepted"
    assert reason(refused) == ("rejected", "onward_not_allowed")
    entries = [parse_entry(e) for e in raw_entries]
    [got] = [e for e in entries if e.message_id == original["id"] and e.kind.value == "received"]
    assert got.conditions == ("no_onward", "note")
    assert all(secret.encode() not in e for e in raw_entries)
    assert [(e.kind.value, e.reason) for e in entries if e.message_id == derived["id"]] == [
        ("rejected", "onward_not_allowed")
    ]

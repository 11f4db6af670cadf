"""Corrections and retractions on a real nats-server: exactly the original's recipients.

The agreements of :func:`hub.testing.governance` send GT's gang reports to SV (full) and
US (``no-persons``); HN receives none. An amendment follows the original's routing as the
hub recorded it, whatever the agreements say when it comes.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from hub.app import HubApp, create_app
from hub.audit import AuditReader, CheckpointSigner, parse_entry
from hub.audit.chains import read_chain
from hub.cli import cli
from hub.config import HubSettings
from hub.governance import Governance
from hub.pipeline.audit_hook import AuditLogHook
from hub.testing import GOVERNANCE_PARTIES, NO_PERSONS, agreement, status, statuses
from schemas.amendments import HDR_AMENDMENT, HDR_AMENDS, HDR_ORIGINAL_ID, HDR_VERSION
from schemas.countersign import sha256_digest
from schemas.subjects import HDR_COUNTERSIGNATURE, HDR_MSG_ID, HDR_REASON, HDR_VIEW
from tests.integration import hubkit
from tests.integration.auditkit import open_audit_writer
from tests.integration.hubkit import (
    ensure,
    governance,
    outcome_of_sent,
    signed_message,
    stream_msgs,
)

pytestmark = pytest.mark.integration

TD, GOV, SIGNER = governance()
# Since the original was sent, the parties agreed otherwise: GT's reports now go to HN
# and, in full, to US; SV is no longer named.
CHANGED = Governance(
    directory=GOV.directory,
    agreements=statuses(
        status(
            agreement(
                "gangs-ca-2",
                ["gangs"],
                ["gang_movement", "retraction"],
                [{"from": "GT", "to": "HN"}, {"from": "GT", "to": "US"}],
                parties=GOVERNANCE_PARTIES,
            )
        )
    ),
)
NONE = Governance(directory=GOV.directory, agreements=type(GOV.agreements).of(()))
# The same agreement as the original travelled under, expired since.
EXPIRED = Governance(
    directory=GOV.directory,
    agreements=statuses(
        status(
            agreement(
                "gangs-ca",
                ["gangs"],
                ["gang_movement", "retraction"],
                [{"from": "GT", "to": "SV"}, {"from": "GT", "to": "US", "view": "no-persons"}],
                parties=GOVERNANCE_PARTIES,
                valid_until=datetime.now(UTC) - timedelta(minutes=1),
                views={"no-persons": NO_PERSONS},
            )
        )
    ),
)


@pytest.fixture
async def hub(nats_server: Any, nc: NatsClient) -> AsyncIterator[HubApp]:
    signer = CheckpointSigner(SIGNER.key, SIGNER.kid)
    writer = await open_audit_writer(nc.jetstream(), signer, "hub")
    app = create_app(HubSettings(nats_url=nats_server.url), GOV, SIGNER, audit=AuditLogHook(writer))
    await app.start()
    try:
        yield app
    finally:
        await app.stop()
        await writer.close()


@pytest.fixture
async def js(nc: NatsClient, hub: HubApp) -> JetStreamContext:
    return await ensure(nc)


outcome_of = outcome_of_sent


async def deliveries_of(js: JetStreamContext, message_id: str) -> dict[str, Any]:
    msgs = await stream_msgs(js, "DELIVERY", "enlace.out.>")
    return {
        m.subject.split(".")[2]: m
        for m in msgs
        if (m.headers or {}).get(HDR_MSG_ID, "").startswith(f"{message_id}:")
    }


def correction_of(original: dict[str, Any], cc: str = "GT") -> tuple[dict[str, Any], bytes, str]:
    payload = json.loads(json.dumps(original["payload"]))
    payload["gang"]["clique"] = "Sureños"  # what the correction changes
    return signed_message(TD, cc, corrects=original["id"], payload=payload)


retraction_of = functools.partial(hubkit.retraction_of, TD)


async def test_correction_reaches_the_same_parties_in_the_same_views_after_agreements_changed(
    nc: NatsClient, js: JetStreamContext, hub: HubApp
) -> None:
    original = signed_message(TD)
    first = await outcome_of(nc, js, original)
    assert {r["country"]: r["view"] for r in first["recipients"]} == {
        "SV": "full",
        "US": "no-persons",
    }
    hub.reload(CHANGED)
    try:
        fix = correction_of(original[0])
        outcome = await outcome_of(nc, js, fix)
        # A new report under the changed agreements goes to HN and US: the change is real.
        fresh = await outcome_of(nc, js, signed_message(TD))
    finally:
        hub.reload(GOV)

    assert {r["country"] for r in fresh["recipients"]} == {"HN", "US"}
    assert outcome["status"] == "accepted"
    assert {r["country"]: (r["view"], r["agreement"]) for r in outcome["recipients"]} == {
        "SV": ("full", "gangs-ca"),
        "US": ("no-persons", "gangs-ca"),
    }
    got = await deliveries_of(js, fix[0]["id"])
    assert set(got) == {"SV", "US"}  # HN, which never received the original, learns nothing
    sv, us = got["SV"], got["US"]
    assert sv.data == fix[1]  # the full view: GT's signed bytes
    assert "persons" not in json.loads(us.data)["payload"]  # US's view, as before
    assert json.loads(us.data)["payload"]["gang"]["clique"] == "Sureños"
    assert us.headers[HDR_VIEW] == "no-persons" and HDR_COUNTERSIGNATURE in us.headers
    for d in (sv, us):
        assert d.headers[HDR_AMENDMENT] == "correction"
        assert d.headers[HDR_AMENDS] == original[0]["id"]
        assert d.headers[HDR_ORIGINAL_ID] == original[0]["id"]
        assert d.headers[HDR_VERSION] == "2"


async def test_a_correction_of_a_correction_is_the_next_version_and_the_old_one_is_closed(
    nc: NatsClient, js: JetStreamContext
) -> None:
    original = signed_message(TD)
    await outcome_of(nc, js, original)
    second = correction_of(original[0])
    await outcome_of(nc, js, second)
    third = correction_of(second[0])
    assert (await outcome_of(nc, js, third))["status"] == "accepted"
    stale = correction_of(original[0])  # v1 was superseded by v2
    refused = await outcome_of(nc, js, stale)

    got = await deliveries_of(js, third[0]["id"])
    assert {cc: d.headers[HDR_VERSION] for cc, d in got.items()} == {"SV": "3", "US": "3"}
    assert {d.headers[HDR_ORIGINAL_ID] for d in got.values()} == {original[0]["id"]}
    assert {d.headers[HDR_AMENDS] for d in got.values()} == {second[0]["id"]}
    assert (refused["status"], refused["reason"]) == ("rejected", "amend_closed")
    assert second[0]["id"] in refused["description"]
    assert await deliveries_of(js, stale[0]["id"]) == {}


@pytest.mark.parametrize("since", [EXPIRED, NONE], ids=["expired", "removed"])
async def test_retraction_goes_through_when_no_agreement_is_in_force_any_more(
    nc: NatsClient, js: JetStreamContext, hub: HubApp, since: Governance
) -> None:
    original = signed_message(TD)
    await outcome_of(nc, js, original)
    hub.reload(since)
    try:
        withdraw = retraction_of(original[0]["id"])
        outcome = await outcome_of(nc, js, withdraw)
        late = await outcome_of(nc, js, correction_of(original[0]))
        fresh = await outcome_of(nc, js, signed_message(TD))
    finally:
        hub.reload(GOV)

    assert fresh["status"] == "undeliverable"  # no agreement carries a new report now

    assert outcome["status"] == "accepted"
    got = await deliveries_of(js, withdraw[0]["id"])
    assert set(got) == {"SV", "US"}
    for d in got.values():
        assert d.subject.endswith(".gangs.retraction")
        assert d.data == withdraw[1]  # a retraction holds nothing of the original: full
        assert d.headers[HDR_VIEW] == "full"
        assert d.headers[HDR_AMENDMENT] == "retraction"
        assert d.headers[HDR_AMENDS] == original[0]["id"]
    assert (late["status"], late["reason"]) == ("rejected", "amend_closed")


async def test_retraction_of_another_countrys_message_is_refused_with_every_trace(
    nc: NatsClient, js: JetStreamContext
) -> None:
    original = signed_message(TD)  # GT's
    await outcome_of(nc, js, original)
    forged = retraction_of(original[0]["id"], cc="SV")  # SV received it, but did not send it
    outcome = await outcome_of(nc, js, forged)

    assert (outcome["status"], outcome["reason"]) == ("rejected", "amend_not_sender")
    assert "SV did not send" in outcome["description"]
    assert await deliveries_of(js, forged[0]["id"]) == {}
    notices = await stream_msgs(js, "REJECTED", "enlace.rejected.SV")
    assert any(json.loads(n.data)["message_id"] == forged[0]["id"] for n in notices)
    copies = await stream_msgs(js, "QUARANTINE", "enlace.quarantine.>")
    kept = [c for c in copies if c.data == forged[1]]
    assert kept and (kept[0].headers or {}).get(HDR_REASON) == "amend_not_sender"
    entries = [parse_entry(raw) for raw in await AuditReader(js).read_all()]
    mine = [e for e in entries if e.message_id == forged[0]["id"]]
    assert [(e.kind.value, e.reason) for e in mine] == [("rejected", "amend_not_sender")]
    assert all(e.digest == sha256_digest(forged[1]) for e in mine)


@pytest.mark.parametrize("kind", ["correction", "retraction"])
async def test_an_unknown_id_is_refused(nc: NatsClient, js: JetStreamContext, kind: str) -> None:
    never_sent = signed_message(TD)[0]
    amendment = (
        correction_of(never_sent) if kind == "correction" else retraction_of(never_sent["id"])
    )
    outcome = await outcome_of(nc, js, amendment)

    assert (outcome["status"], outcome["reason"]) == ("rejected", "amend_unknown")
    assert await deliveries_of(js, amendment[0]["id"]) == {}


async def test_a_correction_of_another_type_or_theme_is_refused(
    nc: NatsClient, js: JetStreamContext
) -> None:
    original = signed_message(TD)
    await outcome_of(nc, js, original)
    other_theme = retraction_of(original[0]["id"], theme="narcotics")
    outcome = await outcome_of(nc, js, other_theme)

    assert (outcome["status"], outcome["reason"]) == ("rejected", "amend_mismatch")


async def test_the_audit_log_links_the_amendment_to_what_it_amends(
    nc: NatsClient, js: JetStreamContext
) -> None:
    original = signed_message(TD)
    await outcome_of(nc, js, original)
    fix = correction_of(original[0])
    await outcome_of(nc, js, fix)

    entries = [parse_entry(raw) for raw in await AuditReader(js).read_all()]
    received = [e for e in entries if e.message_id == fix[0]["id"] and e.kind.value == "received"]
    routed = {
        e.recipient: e.view
        for e in entries
        if e.message_id == fix[0]["id"] and e.kind.value == "routed"
    }
    assert [e.amends for e in received] == [original[0]["id"]]
    assert routed == {"SV": "full", "US": "no-persons"}
    # Every other party's decision is on the record too, with its reason.
    [not_routed] = [e for e in entries if e.message_id == fix[0]["id"] and e.refused]
    assert {r.country: r.reason for r in not_routed.refused or ()} == {
        "GT": "sender_self",
        "HN": "not_amended_recipient",
    }


async def test_audit_show_and_the_chain_give_every_version_from_any_of_them(
    nc: NatsClient, js: JetStreamContext, nats_server: Any
) -> None:
    original = signed_message(TD)
    await outcome_of(nc, js, original)
    fix = correction_of(original[0])
    await outcome_of(nc, js, fix)
    withdraw = retraction_of(fix[0]["id"])
    await outcome_of(nc, js, withdraw)
    ids = [original[0]["id"], fix[0]["id"], withdraw[0]["id"]]

    chain, entries = await read_chain(AuditReader(js), ids[1])
    assert [(v.message_id, v.number, v.kind) for v in chain.versions] == [
        (ids[0], 1, "original"),
        (ids[1], 2, "correction"),
        (ids[2], 2, "retraction"),
    ]
    assert {e.message_id for e in entries} == set(ids)
    shown = await asyncio.to_thread(
        CliRunner().invoke, cli, ["audit", "show", ids[0], "--nats-url", nats_server.url]
    )
    assert shown.exit_code == 0, shown.output
    assert f"versions: {ids[0]} (v1) → {ids[1]} (v2), withdrawn by {ids[2]}" in shown.output
    as_json = await asyncio.to_thread(
        CliRunner().invoke, cli, ["audit", "show", ids[2], "--json", "--nats-url", nats_server.url]
    )
    kinds = {(json.loads(x)["message_id"], json.loads(x)["kind"]) for x in as_json.output.split()}
    assert {(i, "received") for i in ids} <= kinds

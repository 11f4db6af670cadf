"""Two amendments of one version at once, on a real nats-server: one passes, one is refused.

Versions form a chain, not a tree: of two corrections (or a correction and a retraction)
of the same version, the hub accepts the first to mark it and refuses the other with
``amend_closed``, whether they are handled one after the other or at the same moment by
two workers (each fetching one message; a barrier holds each after it read the version
it amends until the other has read it too).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any

import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError

from hub.governance import Governance
from hub.pipeline.amendments import ROUTES_BUCKET
from hub.pipeline.replay import kv_key
from schemas.envelope import Envelope
from schemas.testing import TestDirectory
from tests.integration import hubkit
from tests.integration.hubkit import (
    Collector,
    ensure,
    governance,
    hub_running,
    outcome_of_sent,
    publish_signed,
    signed_message,
    stream_msgs,
)

pytestmark = pytest.mark.integration

TD, GOV, SIGNER = governance()
Sent = tuple[dict[str, Any], bytes, str]


def correction_of(td: TestDirectory, original: dict[str, Any], clique: str) -> Sent:
    payload = json.loads(json.dumps(original["payload"]))
    payload["gang"]["clique"] = clique
    return signed_message(td, "GT", corrects=original["id"], payload=payload)


async def outcomes_at_once(
    url: str,
    nc: NatsClient,
    js: JetStreamContext,
    sent: list[Sent],
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, dict[str, Any]]:
    """Each message's outcome by id, ``sent`` handled at once by two workers: both have
    read the version they amend before either goes on (a barrier after the reading)."""
    got = Collector()
    sub = await nc.subscribe("enlace.outcome.GT.>", cb=got.handler)
    ids = {m[0]["id"] for m in sent}
    try:
        async with hub_running(url, GOV, SIGNER, workers=2, fetch_batch=1) as hub:
            assert hub.pipeline is not None
            amends = hub.pipeline.amends
            read, barrier = amends.plan, asyncio.Barrier(len(sent))

            async def read_together(envelope: Envelope, parties: Iterable[str]) -> Any:
                amendment = await read(envelope, parties)
                async with asyncio.timeout(10):  # not both at once: fail, do not hang
                    await barrier.wait()
                return amendment

            monkeypatch.setattr(amends, "plan", read_together)
            for message in sent:
                await publish_signed(js, *message)
            for _ in range(500):
                outcomes = {d["message_id"]: d for d in got.json() if d["message_id"] in ids}
                if len(outcomes) == len(ids):
                    return outcomes
                await asyncio.sleep(0.02)
    finally:
        await sub.unsubscribe()
    raise AssertionError(f"outcomes of {ids}: {got.json()}")


async def stored_record(js: JetStreamContext, message_id: str) -> dict[str, Any]:
    kv = await js.key_value(ROUTES_BUCKET)
    entry = await kv.get(kv_key(message_id))
    assert entry.value
    doc: dict[str, Any] = json.loads(entry.value)
    return doc


async def delivered_ids(js: JetStreamContext) -> set[str]:
    msgs = await stream_msgs(js, "DELIVERY", "enlace.out.>")
    return {(m.headers or {})["Nats-Msg-Id"].split(":")[0] for m in msgs}


async def original_sent(url: str, nc: NatsClient, js: JetStreamContext, gov: Governance) -> Sent:
    original = signed_message(TD)
    async with hub_running(url, gov, SIGNER):
        assert (await outcome_of_sent(nc, js, original))["status"] == "accepted"
    return original


@pytest.mark.parametrize("second", ["correction", "retraction"])
async def test_of_two_amendments_of_one_version_at_once_one_passes(
    nats_server: Any, nc: NatsClient, second: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    js = await ensure(nc)
    original = await original_sent(nats_server.url, nc, js, GOV)
    first = correction_of(TD, original[0], "Sureños")
    other = (
        correction_of(TD, original[0], "Los Vatos")
        if second == "correction"
        else hubkit.retraction_of(TD, original[0]["id"])
    )

    outcomes = await outcomes_at_once(nats_server.url, nc, js, [first, other], monkeypatch)

    statuses = sorted((d["status"], d.get("reason")) for d in outcomes.values())
    assert statuses == [("accepted", ""), ("rejected", "amend_closed")]
    (winner,) = [i for i, d in outcomes.items() if d["status"] == "accepted"]
    (loser,) = [i for i, d in outcomes.items() if d["status"] == "rejected"]
    record = await stored_record(js, original[0]["id"])
    mark = "superseded_by" if winner == first[0]["id"] or second == "correction" else "retracted_by"
    assert record[mark] == winner
    assert loser not in (record.get("superseded_by"), record.get("retracted_by"))
    delivered = await delivered_ids(js)
    assert winner in delivered
    assert loser not in delivered
    assert winner in outcomes[loser]["description"]  # the refusal names what closed it


async def test_the_refused_amendment_leaves_its_id_free_and_the_chain_open(
    nats_server: Any, nc: NatsClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    js = await ensure(nc)
    original = await original_sent(nats_server.url, nc, js, GOV)
    first = correction_of(TD, original[0], "Sureños")
    other = correction_of(TD, original[0], "Los Vatos")
    outcomes = await outcomes_at_once(nats_server.url, nc, js, [first, other], monkeypatch)
    (winner,) = [i for i, d in outcomes.items() if d["status"] == "accepted"]
    (loser,) = [i for i, d in outcomes.items() if d["status"] == "rejected"]

    kv = await js.key_value(ROUTES_BUCKET)
    with pytest.raises(KeyNotFoundError):  # refused before its claim: never accepted
        await kv.get(kv_key(loser))
    following = signed_message(TD, "GT", corrects=winner, payload=first[0]["payload"])
    async with hub_running(nats_server.url, GOV, SIGNER):
        outcome = await outcome_of_sent(nc, js, following)
    assert outcome["status"] == "accepted", outcome
    assert (await stored_record(js, winner))["superseded_by"] == following[0]["id"]
    assert (await stored_record(js, following[0]["id"]))["version"] == 3

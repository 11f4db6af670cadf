"""Replay: the same signed message again, after JetStream's de-duplication window, is refused;
the claims that refuse it (``seen_ids: bucket``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import nats
import pytest
from nats.js.api import KeyValueConfig
from nats.js.kv import KeyValue

from adapters.client import EnlaceClient
from hub.errors import DuplicateMessage
from hub.jetstream.buckets import ensure_kv
from hub.jetstream.streams import SEEN_BUCKET
from hub.jetstream.writer import JetStreamWriter
from hub.pipeline.amendments import ROUTES_BUCKET, RoutedRecord
from hub.pipeline.replay import SeenIds, kv_key
from hub.policy import Route
from hub.policy.model import FULL_VIEW
from hub.server.process import NatsServer
from tests.integration.hubkit import governance, hub_running, signed_message

pytestmark = pytest.mark.integration

TD, GOV, SIGNER = governance()


async def test_replay_after_the_dedup_window_is_refused_as_duplicate(server: NatsServer) -> None:
    window = {"ingress_duplicate_window": "1s"}
    async with hub_running(server.url, GOV, SIGNER, streams=window):
        nc = await nats.connect(server.url)
        try:
            client = EnlaceClient(nc)
            _, raw, jws = signed_message(TD)
            first = await client.publish(raw, jws)
            await asyncio.sleep(1.5)  # JetStream forgets the Nats-Msg-Id
            replay = await client.publish(raw, jws)
        finally:
            await nc.close()

    assert first.status == "accepted"
    assert not replay.duplicate  # JetStream let it in again…
    assert replay.outcome is not None
    assert (replay.status, replay.outcome.reason) == ("rejected", "duplicate")  # …the hub not


@asynccontextmanager
async def claims(
    server: NatsServer, through: str, bucket: str, *, ttl: float = 0, routes: bool = False
) -> AsyncIterator[tuple[SeenIds, KeyValue]]:
    """Claims in a new ``bucket``, made through nats-py or through the hub's writer.

    Args:
        server: the nats-server.
        through: ``nats-py`` (``kv.create``), or the hub's writer first.
        bucket: the bucket's name.
        ttl: its entries' TTL in seconds (0: none, as ``enlace_routes``).
        routes: each claim is a routing record (``enlace_routes``).
    """
    nc = await nats.connect(server.url)
    try:
        writer = None
        if through != "nats-py":
            writer = JetStreamWriter(nc)
            await writer.start()
        kv = await ensure_kv(nc.jetstream(), bucket, ttl, 1)
        yield SeenIds(kv, writer, bucket, routes=routes), kv
    finally:
        await nc.close()


@pytest.mark.parametrize("through", ["nats-py", "the hub's writer"])
async def test_a_claim_is_released_only_by_the_message_that_made_it(
    server: NatsServer, through: str
) -> None:
    """Both ways of claiming: nats-py's ``kv.create``, and the hub's writer first (which
    meets a held key, and the tombstone a release leaves, as "wrong last sequence")."""
    async with claims(server, through, f"claims_{len(through)}", ttl=60) as (seen, _):
        assert await seen.claim("m-1", "INGRESS_GT-5") is False  # new
        assert await seen.claim("m-1", "INGRESS_GT-5") is True  # the same message again
        with pytest.raises(DuplicateMessage):
            await seen.claim("m-1", "INGRESS_GT-6")  # another message with that id: a replay
        assert await seen.release("m-1", "INGRESS_GT-6") is False  # not its claim: kept
        assert await seen.accepted_as("m-1") == "INGRESS_GT-5"
        assert await seen.release("m-1", "INGRESS_GT-5") is True
        assert await seen.accepted_as("m-1") is None
        assert await seen.claim("m-1", "INGRESS_GT-7") is False  # may be sent again


async def test_claims_are_read_from_the_buckets_leader_also_in_a_bucket_made_before(
    server: NatsServer,
) -> None:
    """On a cluster any replica answers a direct get, and one back from a freeze may not hold
    the claim yet: a redelivery was then refused as a duplicate of itself and lost (the
    cluster's SIGSTOP row). Claims are read from the leader; a bucket made with direct
    gets by an earlier version is changed, its claims kept."""
    nc = await nats.connect(server.url)
    try:
        js = nc.jetstream()
        old = await js.create_key_value(KeyValueConfig(bucket="old_claims", ttl=60, direct=True))
        await SeenIds(old).claim("m-1", "INGRESS_GT-5")
        kept = SeenIds(await ensure_kv(js, "old_claims", 60, 1))
        await ensure_kv(js, "new_claims", 60, 1)
        for bucket in ("old_claims", "new_claims"):
            assert (await js.stream_info(f"KV_{bucket}")).config.allow_direct is False
        assert await kept.claim("m-1", "INGRESS_GT-5") is True  # the same message again
        with pytest.raises(DuplicateMessage):
            await kept.claim("m-1", "INGRESS_GT-6")
    finally:
        await nc.close()


async def test_another_countrys_message_at_the_same_sequence_is_no_redelivery(
    server: NatsServer,
) -> None:
    """GT's message is the first of INGRESS_GT, HN's the first of INGRESS_HN: both seq 1.

    HN reuses the id GT's message was accepted under. Were the claim keyed on the sequence
    alone, HN's message would pass for a redelivery of GT's and skip the duplicate check
    (and its notice would share GT's notice id and be dropped by JetStream).
    """
    gt_message, gt_raw, gt_jws = signed_message(TD, "GT")
    _, hn_raw, hn_jws = signed_message(TD, "HN", id=gt_message["id"])
    async with hub_running(server.url, GOV, SIGNER):
        nc = await nats.connect(server.url)
        try:
            client = EnlaceClient(nc)
            first = await client.publish(gt_raw, gt_jws)
            sub = await nc.subscribe("enlace.rejected.HN")
            replay = await client.publish(hn_raw, hn_jws)
            notice = json.loads((await sub.next_msg(timeout=5)).data)
        finally:
            await nc.close()

    assert (first.subject, first.stream_seq) == ("enlace.in.GT.gangs.gang_movement", 1)
    assert first.status == "accepted"
    assert not replay.duplicate  # dedup is per stream: only the hub can refuse it
    assert replay.stream_seq == 1  # the same sequence, in HN's own stream
    assert replay.outcome is not None
    assert (replay.status, replay.outcome.reason) == ("rejected", "duplicate")
    assert (notice["message_id"], notice["reason"]) == (gt_message["id"], "duplicate")


async def test_the_claim_of_an_accepted_id_is_its_routing_record(server: NatsServer) -> None:
    """``seen_ids: bucket``: one create in ``enlace_routes`` claims the id and keeps what
    corrections need; nothing is written for it in ``enlace_seen`` (earlier versions')."""
    message, raw, jws = signed_message(TD, "GT")
    async with hub_running(server.url, GOV, SIGNER):
        nc = await nats.connect(server.url)
        try:
            js = nc.jetstream()
            routes_before = (await js.stream_info(f"KV_{ROUTES_BUCKET}")).state.last_seq
            accepted = await EnlaceClient(nc).publish(raw, jws)
            routes = await js.stream_info(f"KV_{ROUTES_BUCKET}")
            seen = await js.stream_info(f"KV_{SEEN_BUCKET}")
            kept = await (await js.key_value(ROUTES_BUCKET)).get(kv_key(message["id"]))
        finally:
            await nc.close()

    assert accepted.status == "accepted"
    assert routes.state.last_seq - routes_before == 1  # one write: claim and record
    assert seen.state.last_seq == 0
    record = RoutedRecord.from_json(message["id"], kept.value or b"")
    assert record.ingress == f"INGRESS_GT-{accepted.stream_seq}"
    assert [(r.recipient, r.view.name) for r in record.routes] == [
        ("SV", "full"),
        ("US", "no-persons"),
    ]


async def test_an_id_an_earlier_version_routed_is_not_accepted_again(server: NatsServer) -> None:
    """An earlier version's routing record names no ingress message (its claim, in
    ``enlace_seen``, expired with the window): the id is still held, as a duplicate."""
    message, raw, jws = signed_message(TD, "GT")
    async with hub_running(server.url, GOV, SIGNER):
        nc = await nats.connect(server.url)
        try:
            old = RoutedRecord(message["id"], "GT", "gangs", "gang_movement", message["id"], 1, ())
            kv = await nc.jetstream().key_value(ROUTES_BUCKET)
            await kv.put(kv_key(message["id"]), old.to_json())
            again = await EnlaceClient(nc).publish(raw, jws)
        finally:
            await nc.close()

    assert again.outcome is not None
    assert (again.status, again.outcome.reason) == ("rejected", "duplicate")


@pytest.mark.parametrize("through", ["nats-py", "the hub's writer"])
async def test_a_released_routing_record_keeps_its_routes_and_frees_its_id_once(
    server: NatsServer, through: str
) -> None:
    """The hub gave up on a message after its claim: its record stays, marked released,
    with its routes (some may have received it: its sender can still amend it); its id is
    free, and of two messages racing for it, one takes the record over."""
    async with claims(server, through, f"routes_{len(through)}", routes=True) as (seen, kv):
        route = Route("SV", FULL_VIEW, "gangs-ca", 0, "#0")
        first = RoutedRecord("m-1", "GT", "gangs", "gang_movement", "m-1", 1, (route,))
        mine = replace(first, ingress="INGRESS_GT-5").to_json()
        assert await seen.claim("m-1", "INGRESS_GT-5", mine) is False
        assert await seen.release("m-1", "INGRESS_GT-5") is True
        kept = RoutedRecord.from_json("m-1", (await kv.get("m-1")).value or b"")
        assert (kept.released, kept.routes, kept.ingress) == (True, (route,), "INGRESS_GT-5")
        assert await seen.accepted_as("m-1") is None
        assert await seen.release("m-1", "INGRESS_GT-5") is False  # nobody holds it now

        racers = ("INGRESS_HN-1", "INGRESS_SV-1")
        raced = await asyncio.gather(
            *(seen.claim("m-1", r, replace(first, ingress=r).to_json()) for r in racers),
            return_exceptions=True,
        )
        assert sorted(type(c).__name__ for c in raced) == ["DuplicateMessage", "bool"]
        winner = racers[raced.index(False)]
        assert await seen.accepted_as("m-1") == winner
        taken = RoutedRecord.from_json("m-1", (await kv.get("m-1")).value or b"")
        assert (taken.released, taken.ingress) == (False, winner)
        assert await seen.claim("m-1", winner) is True  # its redelivery, as for any claim


async def test_a_redelivery_brings_its_record_up_to_date_and_keeps_its_amendments(
    server: NatsServer,
) -> None:
    """The claim of a redelivered message writes its record only if the decision changed
    (a reload), expecting the revision it read, and keeps a correction's mark: a record
    written blind beside the deliveries raced with the release of a message the hub gave
    up on, and dropped ``superseded_by``."""
    async with claims(server, "the hub's writer", "routes_refresh", routes=True) as (seen, kv):
        sv, us = (Route(cc, FULL_VIEW, "gangs-ca", i, f"#{i}") for i, cc in enumerate(["SV", "US"]))
        first = RoutedRecord(
            "m-2", "GT", "gangs", "gang_movement", "m-2", 1, (sv,), ingress="INGRESS_GT-7"
        )
        assert await seen.claim("m-2", "INGRESS_GT-7", first.to_json()) is False
        before = (await kv.get("m-2")).revision

        assert await seen.claim("m-2", "INGRESS_GT-7", first.to_json()) is True
        assert (await kv.get("m-2")).revision == before  # the same decision: no write

        corrected = replace(first, superseded_by="m-3")
        await kv.update("m-2", corrected.to_json(), last=before)  # a correction's mark
        reloaded = replace(first, routes=(sv, us))  # the agreements changed meanwhile
        assert await seen.claim("m-2", "INGRESS_GT-7", reloaded.to_json()) is True
        kept = RoutedRecord.from_json("m-2", (await kv.get("m-2")).value or b"")
        assert (kept.routes, kept.superseded_by, kept.ingress) == ((sv, us), "m-3", "INGRESS_GT-7")


async def test_a_release_reads_again_a_record_changed_since_it_read_it(
    server: NatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between the release's read and its write the record changed (a correction's mark):
    the release reads it again, frees the id and keeps the mark (it gave up, leaving the
    id held, before)."""
    async with claims(server, "nats-py", "routes_reread", routes=True) as (seen, kv):
        route = Route("SV", FULL_VIEW, "gangs-ca", 0, "#0")
        record = RoutedRecord(
            "m-4", "GT", "gangs", "gang_movement", "m-4", 1, (route,), ingress="INGRESS_GT-9"
        )
        assert await seen.claim("m-4", "INGRESS_GT-9", record.to_json()) is False
        stale = await kv.get("m-4")
        await kv.update("m-4", replace(record, retracted_by="m-5").to_json(), last=stale.revision)
        reads = iter([stale])
        read = seen._entry

        async def stale_first(key: str) -> object:
            return next(reads, None) or await read(key)

        monkeypatch.setattr(seen, "_entry", stale_first)
        assert await seen.release("m-4", "INGRESS_GT-9") is True
        kept = RoutedRecord.from_json("m-4", (await kv.get("m-4")).value or b"")
        assert (kept.released, kept.retracted_by, kept.routes) == (True, "m-5", (route,))
        assert await seen.accepted_as("m-4") is None


async def test_a_released_record_amended_since_keeps_its_id_taken(server: NatsServer) -> None:
    """The hub gave up on a message; its sender retracted it (or corrected it) there; a
    message sent again under its id is refused as a duplicate, not taken over: it would
    open the chain again after its recipients saw it withdrawn."""
    async with claims(server, "the hub's writer", "routes_amended", routes=True) as (seen, kv):
        route = Route("SV", FULL_VIEW, "gangs-ca", 0, "#0")
        first = RoutedRecord("m-6", "GT", "gangs", "gang_movement", "m-6", 1, (route,))
        assert (
            await seen.claim(
                "m-6", "INGRESS_GT-3", replace(first, ingress="INGRESS_GT-3").to_json()
            )
            is False
        )
        assert await seen.release("m-6", "INGRESS_GT-3") is True
        released = await kv.get("m-6")
        kept = RoutedRecord.from_json("m-6", released.value or b"")
        await kv.update("m-6", replace(kept, retracted_by="m-7").to_json(), last=released.revision)

        again = replace(first, ingress="INGRESS_GT-4").to_json()
        with pytest.raises(DuplicateMessage, match="corrected or retracted since"):
            await seen.claim("m-6", "INGRESS_GT-4", again)
        still = RoutedRecord.from_json("m-6", (await kv.get("m-6")).value or b"")
        assert (still.released, still.retracted_by, still.ingress) == (True, "m-7", "INGRESS_GT-3")

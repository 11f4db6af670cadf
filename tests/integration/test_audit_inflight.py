"""Audit batches in flight (:mod:`hub.audit.inflight`) on a real nats-server: the hard cases.

With ``max_batch=1`` each submitted entry is a batch of its own, and batches submitted
together are all published in one turn of the event loop, before any answer can come
back: they are in flight together, not by chance.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import nats
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nats.aio.client import Client as NatsClient

from hub.audit import AuditEntry, AuditReader, AuditStoreError, AuditWriter, kinds, verify_log
from hub.audit.checkpoint import CheckpointSigner, note_size
from hub.audit.seen import Arbiter, Claim
from hub.server.process import NatsServer
from schemas.countersign import sha256_digest
from tests.integration.auditkit import numbered_entry, open_audit_writer

pytestmark = pytest.mark.integration

ORIGIN = "enlace.test/inflight"
SIGNER = CheckpointSigner(Ed25519PrivateKey.generate(), "hub-k1")


def _received(message_id: str, ingress: str) -> AuditEntry:
    return kinds.received(
        message_id=message_id,
        sender_country="GT",
        poc=None,
        type_="gang_movement",
        theme="gangs",
        digest=sha256_digest(ingress.encode()),
        size=10,
        ingress=ingress,
    )


@asynccontextmanager
async def _writers(
    server: NatsServer, *each: dict[str, Any]
) -> AsyncIterator[tuple[NatsClient, list[AuditWriter]]]:
    """A writer per dict of options, each on a connection of its own (as hub processes
    are), on a server of the test's own: the log starts empty. All are closed after."""
    clients = [await nats.connect(server.url) for _ in each]
    try:
        writers = [
            await open_audit_writer(c.jetstream(), SIGNER, ORIGIN, **options)
            for c, options in zip(clients, each, strict=True)
        ]
        yield clients[0], writers
        for writer in writers:
            await writer.close()
    finally:
        for client in clients:
            await client.close()


async def _verified(server: NatsServer) -> tuple[int, int]:
    """The log's size once it verifies against its checkpoints, and its AUDIT messages."""
    client = await nats.connect(server.url)
    try:
        reader = AuditReader(client.jetstream())
        entries, checkpoints = await reader.read_all(), await reader.checkpoints()
        report = verify_log(entries, checkpoints, [SIGNER.verifier()])
        assert report.ok, report.problem
        return report.size, (await client.jetstream().stream_info("AUDIT")).state.messages
    finally:
        await client.close()


async def test_batches_in_flight_are_stored_and_answered_in_order(server: NatsServer) -> None:
    async with _writers(server, {"max_batch": 1, "depth": 3}) as (_, [writer]):
        futures = [writer.submit([numbered_entry(i)]) for i in range(7)]
        assert [await f for f in futures] == [[i] for i in range(7)]
        assert writer.in_flight.again == 0  # nothing refused: each went as published
    assert await _verified(server) == (7, 7)


async def test_the_first_of_two_batches_in_flight_refused_both_go_after_the_other_writer(
    server: NatsServer,
) -> None:
    async with _writers(server, {"max_batch": 1, "depth": 2}, {}) as (_, [a, b]):
        assert await b.append([numbered_entry(100)]) == [0]  # a does not know: a is behind
        first, second = a.submit([numbered_entry(1)]), a.submit([numbered_entry(2)])
        # The server refused the first (wrong last sequence) and so the second, which names
        # the first as the last message; a read b's batch and appended both after it.
        assert (await first, await second) == ([1], [2])
        assert a.in_flight.again == 2
        assert await a.append([numbered_entry(3)]) == [3]
        assert await b.append([numbered_entry(101)]) == [4]
    assert await _verified(server) == (5, 5)  # nothing written twice


async def test_a_claim_is_decided_against_the_batch_in_flight_before_it_and_after_a_refusal(
    server: NatsServer,
) -> None:
    async with _writers(server, {"max_batch": 1, "depth": 2}, {}) as (_, [a, b]):
        await a.arbitrate(Arbiter(timedelta(hours=1)))
        # Two ingress messages claim one id, in two batches in flight together: the second
        # is decided against the first, not yet stored.
        one, two = Claim("m-1", "INGRESS_GT-1"), Claim("m-1", "INGRESS_HN-1")
        f1 = a.submit([_received("m-1", "INGRESS_GT-1")], one)
        f2 = a.submit([_received("m-1", "INGRESS_HN-1")], two)
        assert (await f1, await f2) == ([0], [])
        assert (one.refused, two.refused) == (False, True)
        # Another process claims m-2 first; a does not know. a's two claims of m-2 go out in
        # flight, are refused by the server, and are decided again after b's: both refused.
        await b.append([_received("m-2", "INGRESS_HN-7")])
        three, four = Claim("m-2", "INGRESS_GT-2"), Claim("m-2", "INGRESS_GT-3")
        f3 = a.submit([_received("m-2", "INGRESS_GT-2")], three)
        f4 = a.submit([_received("m-2", "INGRESS_GT-3")], four)
        assert (await f3, await f4) == ([], [])
        assert (three.refused, four.refused) == (True, True)
        assert a.arbiter is not None and a.arbiter.index.holder("m-2") == "INGRESS_HN-7"
    assert await _verified(server) == (2, 2)  # m-1 once (GT's), m-2 once (b's)


async def test_a_failed_batch_fails_the_batch_in_flight_after_it(server: NatsServer) -> None:
    client = await nats.connect(server.url)
    js = client.jetstream(timeout=0.5)
    writer = await open_audit_writer(js, SIGNER, ORIGIN, max_batch=1, depth=2)
    writer._tail.election_grace = 1.0  # a short outage is enough here
    assert await writer.append([numbered_entry(0)]) == [0]
    process = server.process
    assert process is not None
    first, second = writer.submit([numbered_entry(1)]), writer.submit([numbered_entry(2)])
    process.send_signal(signal.SIGSTOP)  # no answer to either: both published, in flight
    try:
        with pytest.raises(AuditStoreError, match="did not answer"):
            await first
        # Decided after the first, whose fate is unknown: never answered as written.
        with pytest.raises(AuditStoreError, match="before this one failed"):
            await second
    finally:
        process.send_signal(signal.SIGCONT)
    # The server takes both once it runs again: the log may hold what a caller was told
    # failed (its message comes again), never a gap or a fork.
    assert await writer.append([numbered_entry(3)]) == [3]
    await writer.close()
    await client.close()
    assert await _verified(server) == (4, 4)


async def test_close_answers_every_batch_in_flight_then_checkpoints_them(
    server: NatsServer,
) -> None:
    async with _writers(server, {"max_batch": 1, "depth": 2}) as (client, [writer]):
        futures = [writer.submit([numbered_entry(i)]) for i in range(5)]
        await writer.close()
        assert [f.result() for f in futures] == [[i] for i in range(5)]  # all done by now
        latest = await AuditReader(client.jetstream()).latest_checkpoint()
        assert note_size(latest or "") == 5
    assert await _verified(server) == (5, 5)


async def test_two_writers_with_batches_in_flight_keep_one_linear_log(
    server: NatsServer,
) -> None:
    async def burst(w: AuditWriter, base: int) -> list[int]:
        got: list[int] = []
        for round_ in range(6):
            futures = [w.submit([numbered_entry(base + round_ * 10 + i)]) for i in range(7)]
            for f in futures:
                got += await f
        return got

    options = ({"max_batch": 3, "depth": 3}, {"max_batch": 2, "depth": 2})
    async with _writers(server, *options) as (_, [a, b]):
        got = await asyncio.gather(burst(a, 0), burst(b, 1000))
        assert a.in_flight.again + b.in_flight.again > 0  # they did meet
    assert sorted(i for run in got for i in run) == list(range(84))  # none twice, none skipped
    size, _ = await _verified(server)
    assert size == 84

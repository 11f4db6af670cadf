"""The hub's write path against a real nats-server: acks in order, refusals as they are."""

from __future__ import annotations

import asyncio
import time

import nats.errors
import pytest
from nats.aio.client import Client as NatsClient
from nats.js.api import StreamConfig
from nats.js.errors import APIError, BadRequestError, NoStreamResponseError

from hub.jetstream.writer import ACK_TIMEOUT, JetStreamWriter, Write


@pytest.fixture
async def writer(nc: NatsClient) -> JetStreamWriter:
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="PERSIST", subjects=["persist.>"]))
    w = JetStreamWriter(nc)
    await w.start()
    return w


async def test_writes_are_stored_and_acked_in_order(
    nc: NatsClient, writer: JetStreamWriter
) -> None:
    writes = [
        Write(f"persist.a.{i}", f"body {i}".encode(), {"Nats-Msg-Id": f"a{i}"}) for i in range(5)
    ]
    acks = await writer.write(writes)
    assert [a.stream for a in acks] == ["PERSIST"] * 5
    assert [a.seq for a in acks] == sorted(a.seq for a in acks)
    stored = await nc.jetstream().get_msg("PERSIST", acks[3].seq)
    assert stored.data == b"body 3" and stored.subject == "persist.a.3"


async def test_a_repeated_write_is_kept_once(writer: JetStreamWriter) -> None:
    first = await writer.write([Write("persist.b", b"x", {"Nats-Msg-Id": "same"})])
    again = await writer.write([Write("persist.b", b"x", {"Nats-Msg-Id": "same"})])
    assert not first[0].duplicate and again[0].duplicate and again[0].seq == first[0].seq


async def test_a_refused_write_raises_jetstreams_reason_at_once(writer: JetStreamWriter) -> None:
    # nats-py 2.16's publish_async would leave this future unresolved until a timeout.
    await writer.write([Write("persist.c", b"1", {})])
    started = time.monotonic()
    with pytest.raises(BadRequestError) as caught:
        await writer.write([Write("persist.c", b"2", {"Nats-Expected-Last-Subject-Sequence": "0"})])
    assert caught.value.err_code == 10071  # wrong last sequence
    assert time.monotonic() - started < ACK_TIMEOUT / 2


async def test_a_subject_no_stream_takes_is_an_error(writer: JetStreamWriter) -> None:
    with pytest.raises(NoStreamResponseError):
        await writer.write([Write("nowhere.at.all", b"x", {})])


async def test_a_failing_companion_fails_the_whole_write(writer: JetStreamWriter) -> None:
    async def audit_down() -> None:
        await asyncio.sleep(0)
        raise RuntimeError("audit store broken")

    with pytest.raises(RuntimeError, match="audit store broken"):
        await writer.write([Write("persist.d", b"x", {})], audit_down())


async def test_refusals_keep_their_typed_error(writer: JetStreamWriter) -> None:
    with pytest.raises(APIError):
        await writer.write([Write("persist.e", b"x", {"Nats-Expected-Stream": "OTHER"})])


async def test_a_write_nobody_acknowledges_times_out_and_the_writer_goes_on(
    nc: NatsClient, writer: JetStreamWriter
) -> None:
    # A plain subscriber takes the write (so no "no responders") but never answers.
    silent = await nc.subscribe("silent.>")
    quick = JetStreamWriter(nc, timeout=0.3)
    await quick.start()
    started = time.monotonic()
    with pytest.raises(nats.errors.TimeoutError):
        await quick.write([Write("persist.f", b"1", {}), Write("silent.x", b"2", {})])
    assert 0.25 < time.monotonic() - started < 3
    # The stored write's late or early acknowledgement is dropped; the next write is answered.
    acks = await quick.write([Write("persist.f", b"3", {})])
    assert acks[0].stream == "PERSIST"
    await silent.unsubscribe()
    await quick.stop()


async def test_companions_alone_and_nothing_at_all(writer: JetStreamWriter) -> None:
    assert await writer.write([]) == []

    async def audited() -> str:
        await asyncio.sleep(0.01)
        return "on the record"

    assert await writer.write([], audited()) == []
    acks = await writer.write([Write("persist.g", b"x", {})], audited(), audited())
    assert len(acks) == 1 and acks[0].stream == "PERSIST"


async def test_a_write_waits_for_its_slowest_companion(writer: JetStreamWriter) -> None:
    done: list[str] = []

    async def slow_audit() -> None:
        await asyncio.sleep(0.2)
        done.append("audit")

    await writer.write([Write("persist.h", b"x", {})], slow_audit())
    assert done == ["audit"]  # acknowledged only once the audit entries are persisted


async def test_concurrent_writes_get_their_own_acknowledgements(
    nc: NatsClient, writer: JetStreamWriter
) -> None:
    async def one(i: int) -> list[tuple[int, bytes]]:
        writes = [Write(f"persist.i.{i}.{j}", f"{i}/{j}".encode(), {}) for j in range(3)]
        return [(a.seq, w.body) for a, w in zip(await writer.write(writes), writes, strict=True)]

    got = await asyncio.gather(*(one(i) for i in range(20)))
    js = nc.jetstream()
    for acks in got:
        for seq, body in acks:  # each acknowledgement is its own write's
            assert (await js.get_msg("PERSIST", seq)).data == body
    assert len({seq for acks in got for seq, _ in acks}) == 60

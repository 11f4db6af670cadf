"""hub.jetstream.wire: the hub's publishes written in one step, byte for byte as nats-py's."""

from __future__ import annotations

import asyncio

import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import BadHeaderError, BadSubjectError

from hub.jetstream import wire

HEADERS = {
    "Nats-Msg-Id": "01KBX3ZQ3V8W0S5G7A9M4T2R1C:SV",
    "Enlace-View": "no-persons",
    "Enlace-Signature": "eyJhbGciOiJFZDI1NTE5In0..c2lnbmF0dXJl",
}

# (subject, reply, headers) the fast path writes itself.
FAST = [
    ("wire.deliver.SV.gangs.gang_movement", "_INBOX.abc.7", HEADERS),
    ("wire.a", "", {}),
    ("wire.a", "_INBOX.abc.8", None),
    ("wire.a", "", None),
    ("wire.a", "", {"Empty": ""}),
]
# Headers nats-py changes (strips, turns line breaks to blanks, skips an empty name): left
# to nats-py.
CHANGED = [
    {" Padded ": "value"},
    {"Key": "  blanks around  "},
    {"Key": "line\r\nINFO {}"},
    {"": "x", "Key": "y"},
    {"Key": "\xa0no-break space\u2003"},
    {"Key": "x", "Other": "trailing\t"},
    {"Key": "a\rb"},
]


async def _nats_py_bytes(
    nc: NatsClient, subject: str, reply: str, body: bytes, headers: dict[str, str] | None
) -> bytes:
    """The command nats-py's own publish puts in its pending buffer."""
    before = len(nc._pending)
    await nc.publish(subject, body, reply=reply, headers=headers)
    return bytes(nc._pending[before])


@pytest.mark.parametrize(("subject", "reply", "headers"), FAST)
async def test_the_command_is_byte_for_byte_nats_pys(
    nc: NatsClient, subject: str, reply: str, headers: dict[str, str] | None
) -> None:
    body = b'{"x": 1}'
    expected = await _nats_py_bytes(nc, subject, reply, body, headers)
    assert wire.pub_command(subject, reply, body, headers) == expected


@pytest.mark.parametrize("headers", CHANGED)
async def test_headers_nats_py_would_change_are_left_to_it(
    nc: NatsClient, headers: dict[str, str]
) -> None:
    assert wire.pub_command("wire.a", "", b"x", headers) is None
    got: asyncio.Future[Msg] = asyncio.get_running_loop().create_future()

    async def take(msg: Msg) -> None:
        got.set_result(msg)

    sub = await nc.subscribe("wire.changed", cb=take)
    await wire.publish(nc, "wire.changed", b"x", "", headers)
    msg = await asyncio.wait_for(got, 5)
    await sub.unsubscribe()
    cleaned = {
        k.strip(): v.strip().replace("\r", " ").replace("\n", " ") for k, v in headers.items()
    }
    assert dict(msg.headers or {}) == {k: v for k, v in cleaned.items() if k}


async def test_published_messages_arrive_as_sent(nc: NatsClient) -> None:
    got: asyncio.Queue[Msg] = asyncio.Queue()

    async def take(msg: Msg) -> None:
        await got.put(msg)

    await nc.subscribe("wire.>", cb=take)
    for subject, reply, headers in FAST:
        await wire.publish(nc, subject, b"body", reply, headers)
    await nc.flush()
    for subject, reply, headers in FAST:
        msg = await asyncio.wait_for(got.get(), 5)
        assert (msg.subject, msg.data, msg.reply) == (subject, b"body", reply)
        assert dict(msg.headers or {}) == (headers or {})


async def test_what_nats_py_refuses_is_refused_the_same(nc: NatsClient) -> None:
    with pytest.raises(BadSubjectError):
        await wire.publish(nc, "wire.a b", b"x", "", HEADERS)
    with pytest.raises(BadSubjectError):
        await wire.publish(nc, "wire.a\r\nPUB x 1", b"x")
    with pytest.raises(BadSubjectError):
        await wire.publish(nc, "wire.a", b"x", "reply with blanks")
    with pytest.raises(BadHeaderError):
        await wire.publish(nc, "wire.a", b"x", "", {"Bad Key": "x"})


async def test_a_direct_subscription_hands_each_message_as_it_is_read(nc: NatsClient) -> None:
    seen: list[bytes] = []

    def handle(msg: Msg) -> None:
        if msg.data == b"boom":
            raise RuntimeError("a handler bug")
        seen.append(msg.data)

    sub = await wire.subscribe_direct(nc, "wire.direct.*", handle)
    bodies = [str(i).encode() for i in range(2000)]
    for i, body in enumerate(bodies):
        await wire.publish(nc, f"wire.direct.{i}", body)
        if i == 10:
            await wire.publish(nc, "wire.direct.x", b"boom")  # logged, the next go on
    await nc.flush()
    for _ in range(100):
        if len(seen) == len(bodies):
            break
        await asyncio.sleep(0.05)
    assert seen == bodies
    # nats-py counts pending bytes against a limit (slow consumer): none stay counted.
    assert sub.pending_bytes == 0 and sub.pending_msgs == 0
    await sub.drain()  # type: ignore[no-untyped-call]  # returns: nothing is left to read

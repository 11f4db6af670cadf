"""The hub's JetStream writes put to nats-py's outgoing buffer in one step, and their
acknowledgements handed to the writer as they are read.

nats-py's ``publish`` builds each header block line by line (a strip, a regular expression,
a translation and four buffer extensions per header) and re-validates subject and reply on
every call. The hub publishes four to six messages per INGRESS message, each with up to
eight headers it built itself, so :func:`publish` builds the ``PUB``/``HPUB`` command in one
f-string and hands it to the client's pending buffer, as nats-py's own ``_send_publish``
then does (the same buffer, the same flusher, the same statistics).

Anything unusual takes nats-py's own path, which checks and raises as before: a client not
connected (its reconnect buffering and errors), a payload above the server's limit, a
subject or reply with white space, a header name nats-py would refuse, a value with a line
break or with surrounding blanks (which nats-py strips). What goes on the wire is then
byte for byte what ``nc.publish`` writes.

Replies: nats-py puts each message of a subscription in an ``asyncio.Queue`` that a task
of the subscription reads, then awaits the callback, a coroutine, for it. The hub's writer
reads four to six acknowledgements per INGRESS message and handles each at once without
awaiting anything, so :func:`subscribe_direct` gives the subscription a queue that hands
each message to a plain function as nats-py puts it there: no task switch, no coroutine.
A failing handler is logged, never raised into nats-py's read loop.

Measured: see the commits that brought each (process CPU on the bench machine).
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Callable

import structlog
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

__all__ = ["pub_command", "publish", "subscribe_direct"]

log = structlog.get_logger("enlace.hub.jetstream")

_WHITE = re.compile(r"[ \t\r\n]")
# nats-py's own rule for a header name (RFC 7230 token characters).
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


@functools.lru_cache(maxsize=512)
def _plain_name(name: str) -> bool:
    return _HEADER_NAME.fullmatch(name) is not None


def _plain_value(value: str) -> bool:
    return "\r" not in value and "\n" not in value and value == value.strip()


def pub_command(
    subject: str, reply: str, body: bytes, headers: dict[str, str] | None
) -> bytes | None:
    """The ``PUB`` (no headers) or ``HPUB`` command nats-py would write for this message,
    or None when the message needs nats-py's own checks (see the module docstring).

    Args:
        subject: where to publish.
        reply: the reply subject ("" for none).
        body: the payload.
        headers: the message headers (None: a ``PUB``; an empty dict: an empty block).
    """
    if not subject or _WHITE.search(subject) or (reply and _WHITE.search(reply)):
        return None
    if headers is None:
        return b"".join((f"PUB {subject} {reply} {len(body)}\r\n".encode(), body, b"\r\n"))
    for name, value in headers.items():
        if not _plain_name(name) or not _plain_value(value):
            return None
    lines = "".join([f"{name}: {value}\r\n" for name, value in headers.items()])
    block = f"NATS/1.0\r\n{lines}\r\n".encode()
    size = len(block)
    head = f"HPUB {subject} {reply} {size} {size + len(body)}\r\n".encode()
    return b"".join((head, block, body, b"\r\n"))


async def publish(
    nc: NatsClient,
    subject: str,
    body: bytes,
    reply: str = "",
    headers: dict[str, str] | None = None,
) -> None:
    """Publish as ``nc.publish(subject, body, reply=reply, headers=headers)`` does.

    Args:
        nc: the connection.
        subject: where to publish.
        body: the payload.
        reply: the reply subject ("" for none).
        headers: the message headers.

    Raises:
        nats.errors.Error: as ``nc.publish`` raises (the unusual cases go through it).
    """
    size = len(body)
    command = None
    if nc.is_connected and not nc.is_draining_pubs and size <= nc._max_payload:
        command = pub_command(subject, reply, body, headers)
    if command is None:
        await nc.publish(subject, body, reply=reply, headers=headers)
        return
    nc.stats["out_msgs"] += 1
    nc.stats["out_bytes"] += size
    await nc._send_command(command)
    if nc._flush_queue is not None and nc._flush_queue.empty():
        await nc._flush_pending()


class _Handed(asyncio.Queue[Msg]):
    """A subscription's pending queue that stays empty: each message nats-py puts in it
    goes to ``handle`` at once (nats-py's counts of pending bytes kept as if it were read)."""

    def __init__(self, sub: Subscription, handle: Callable[[Msg], None]) -> None:
        super().__init__()
        self._sub = sub
        self._handle = handle

    def put_nowait(self, item: Msg) -> None:
        self._sub._pending_size -= len(item.data)
        try:
            self._handle(item)
        except Exception as exc:  # nats-py's read loop must go on
            log.error("reply_handler_failed", error=type(exc).__name__, detail=str(exc)[:300])


async def subscribe_direct(
    nc: NatsClient, subject: str, handle: Callable[[Msg], None]
) -> Subscription:
    """Subscribe to ``subject``; ``handle`` is called with each message as it is read.

    Args:
        nc: the connection.
        subject: the subject (wildcards allowed).
        handle: a plain function, called in nats-py's read loop: it must not block.

    Raises:
        nats.errors.Error: as ``nc.subscribe`` raises.
    """
    sub = await nc.subscribe(subject)
    # Nothing can arrive before this: the caller publishes to ``subject`` only afterwards.
    sub._pending_queue = _Handed(sub, handle)
    return sub

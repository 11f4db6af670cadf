"""Several JetStream writes at once, waited for together: the hub's write path.

nats-py's ``js.publish`` waits for each acknowledgement with a timer and a task of its
own. The hub writes three or four messages for every INGRESS message (deliveries, a
notice, its audit entries), so :class:`JetStreamWriter` publishes them all at once and
waits for their acknowledgements together, under one timeout. An acknowledgement still
means the write is stored (``sync_interval: always``: on disk) — nothing is acked sooner.

Why not nats-py's ``publish_async``: in nats-py 2.16 a write JetStream refuses (a full
stream, a wrong expected sequence) never resolves its future — the refusal is raised
inside the reply callback instead — so the caller would wait out its timeout and never
learn the reason. Here a refusal is the :class:`~nats.js.errors.APIError` JetStream sent.

On a timeout or an error, the writes still pending are forgotten and the error is raised:
the caller leaves its INGRESS message unacked, JetStream redelivers it, and
``Nats-Msg-Id`` makes the repeated writes harmless.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Sequence
from typing import Any, NamedTuple

import nats.errors
import orjson
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import api
from nats.js.errors import (
    APIError,
    BadRequestError,
    NoStreamResponseError,
    NotFoundError,
    ServerError,
    ServiceUnavailableError,
)

from hub.jetstream import wire

__all__ = ["ACK_TIMEOUT", "JetStreamWriter", "Write"]

ACK_TIMEOUT = 10.0
"""Seconds to wait for every acknowledgement of one message's writes."""

_NO_RESPONDERS = "503"
_ERRORS_BY_CODE: dict[int, type[APIError]] = {
    400: BadRequestError,
    404: NotFoundError,
    500: ServerError,
    503: ServiceUnavailableError,
}


class Write(NamedTuple):
    """One message to store: its subject, body and headers (with ``Nats-Msg-Id``)."""

    subject: str
    body: bytes
    headers: dict[str, str]


class _Waited:
    """One :meth:`JetStreamWriter.write`: a single future for all of its acknowledgements
    and companions, and one timer, instead of a future, a task and a timer per write."""

    __slots__ = ("acks", "future", "left")

    def __init__(self, future: asyncio.Future[list[api.PubAck]], writes: int, also: int) -> None:
        self.future = future
        self.acks: list[api.PubAck | None] = [None] * writes
        self.left = writes + also

    def ack(self, slot: int, ack: api.PubAck) -> None:
        self.acks[slot] = ack
        self._one_done()

    def fail(self, exc: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(exc)

    def companion_done(self, done: asyncio.Future[Any]) -> None:
        if done.cancelled():
            self.fail(asyncio.CancelledError())
        elif (exc := done.exception()) is not None:
            self.fail(exc)
        else:
            self._one_done()

    def time_out(self) -> None:
        self.fail(nats.errors.TimeoutError())

    def _one_done(self) -> None:
        self.left -= 1
        if self.left == 0 and not self.future.done():
            self.future.set_result(self.acks)  # type: ignore[arg-type]  # all set by now


class JetStreamWriter:
    """Publishes to JetStream and collects the acknowledgements on one reply subscription.

    Args:
        nc: the hub's connection.
        timeout: seconds to wait for every acknowledgement of one :meth:`write`.
    """

    def __init__(self, nc: NatsClient, timeout: float = ACK_TIMEOUT) -> None:
        self._nc = nc
        self._timeout = timeout
        self._base = ""
        self._tokens = itertools.count()
        self._pending: dict[str, tuple[_Waited, int]] = {}
        self._sub: Subscription | None = None

    async def start(self) -> None:
        """Subscribe to the replies (under the connection's own inbox prefix)."""
        self._base = self._nc.new_inbox()
        self._sub = await wire.subscribe_direct(self._nc, f"{self._base}.*", self._on_reply)

    async def stop(self) -> None:
        """Stop listening for acknowledgements (the writes awaited are answered first)."""
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None

    async def write(self, writes: Sequence[Write], *also: Awaitable[Any]) -> list[api.PubAck]:
        """Store ``writes`` and wait for them and for ``also``; the acks in ``writes`` order.

        Raises:
            nats.errors.TimeoutError: not everything was acknowledged within the writer's
                timeout (:data:`ACK_TIMEOUT` seconds by default).
            nats.js.errors.APIError: JetStream refused a write (the first refusal).
            nats.js.errors.NoStreamResponseError: no stream takes a write's subject.
        """
        if self._sub is None:
            raise RuntimeError("JetStreamWriter.start() was not called")
        loop = asyncio.get_running_loop()
        waited = _Waited(loop.create_future(), len(writes), len(also))
        companions = [asyncio.ensure_future(a) for a in also]
        for companion in companions:
            companion.add_done_callback(waited.companion_done)
        timer = loop.call_later(self._timeout, waited.time_out)
        tokens: list[str] = []
        try:
            for slot, w in enumerate(writes):
                token = str(next(self._tokens))
                tokens.append(token)
                self._pending[token] = (waited, slot)
                await wire.publish(self._nc, w.subject, w.body, f"{self._base}.{token}", w.headers)
            if not writes and not also:
                return []
            return await waited.future
        finally:
            timer.cancel()
            for token in tokens:
                self._pending.pop(token, None)
            for companion in companions:
                companion.remove_done_callback(waited.companion_done)
                companion.cancel()  # no-op when done

    def _on_reply(self, msg: Msg) -> None:
        found = self._pending.pop(msg.subject[len(self._base) + 1 :], None)
        if found is None or found[0].future.done():
            return  # a reply after its timeout or its write's first error: moved on
        waited, slot = found
        if msg.headers and msg.headers.get("Status") == _NO_RESPONDERS:
            waited.fail(NoStreamResponseError())
            return
        try:
            reply = orjson.loads(msg.data)  # ~7x faster than json for a PubAck
            error = reply.get("error")
            if error:
                waited.fail(_api_error(error))
            else:
                # The two fields JetStream always sends, built directly: from_response
                # walks the dataclass fields of PubAck for every write.
                ack = api.PubAck(reply["stream"], reply["seq"], duplicate=reply.get("duplicate"))
                waited.ack(slot, ack)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            waited.fail(APIError(description=f"unreadable JetStream reply: {exc}"))


def _api_error(error: dict[str, Any]) -> APIError:
    """The typed error of a JetStream error reply (as nats-py raises for ``js.publish``)."""
    fields = {k: error[k] for k in ("code", "err_code", "description") if k in error}
    return _ERRORS_BY_CODE.get(int(error.get("code") or 0), APIError)(**fields)

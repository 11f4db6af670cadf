"""Who sent each request, in a JetStream key-value bucket, for routing the replies.

The same memory of earlier messages answers for the ``no_onward`` ones
(:mod:`hub.pipeline.onward`, its own bucket) so that the pipeline asks one object.

:func:`hub.policy.decide` asks a :class:`~hub.policy.requests.RequestMemory`
synchronously; the pipeline therefore looks the request up before deciding
(:meth:`KvRequestMemory.snapshot`) and passes the answer in an in-memory memory.
"""

from __future__ import annotations

from datetime import datetime

from nats.js.kv import KeyValue

from hub.pipeline.onward import OnwardMemory
from hub.pipeline.replay import kv_key, kv_text
from hub.policy.requests import InMemoryRequestMemory, is_request
from schemas.directory import Directory
from schemas.envelope import Envelope

__all__ = ["KvRequestMemory"]


class KvRequestMemory:
    """Requests remembered in a key-value bucket (TTL = how long replies are routed).

    Args:
        kv: the requests' bucket.
        onward: the memory of ``no_onward`` messages (None: nothing is refused for
            passing a message on).
    """

    def __init__(self, kv: KeyValue, onward: OnwardMemory | None = None) -> None:
        self._kv = kv
        self._onward = onward

    async def check_onward(self, envelope: Envelope, directory: Directory, now: datetime) -> None:
        """Refuse ``envelope`` when it passes on a ``no_onward`` message without consent.

        Args:
            envelope: the message, its signature verified.
            directory: the directory in force (the consents' keys).
            now: the hub's time.

        Raises:
            OnwardNotAllowed: see :meth:`hub.pipeline.onward.OnwardMemory.check`.
        """
        if self._onward is not None:
            await self._onward.check(envelope, directory, now)

    async def requester_of(self, message_id: str) -> str | None:
        """The country that sent request ``message_id``, or None."""
        return await kv_text(self._kv, message_id)

    async def snapshot(self, envelope: Envelope) -> InMemoryRequestMemory:
        """A memory holding what ``decide`` may ask about ``envelope`` (its ``in_reply_to``)."""
        known: dict[str, str] = {}
        if envelope.in_reply_to is not None:
            requester = await self.requester_of(envelope.in_reply_to)
            if requester is not None:
                known[envelope.in_reply_to] = requester
        return InMemoryRequestMemory(known)

    async def remember(self, envelope: Envelope) -> None:
        """Record the sender of ``envelope`` when it is a request or may not be passed on."""
        if self._onward is not None:
            await self._onward.remember(envelope)
        if is_request(envelope):
            await self._kv.put(kv_key(envelope.id), envelope.sender.country.encode())

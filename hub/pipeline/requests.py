"""Who sent each request, in a JetStream key-value bucket, for routing the replies.

:func:`hub.policy.decide` asks a :class:`~hub.policy.requests.RequestMemory`
synchronously; the pipeline therefore looks the request up before deciding
(:meth:`KvRequestMemory.snapshot`) and passes the answer in an in-memory memory.
"""

from __future__ import annotations

from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from hub.pipeline.replay import kv_key
from hub.policy.requests import InMemoryRequestMemory, is_request
from schemas.envelope import Envelope

__all__ = ["KvRequestMemory"]


class KvRequestMemory:
    """Requests remembered in a key-value bucket (TTL = how long replies are routed)."""

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    async def requester_of(self, message_id: str) -> str | None:
        """The country that sent request ``message_id``, or None."""
        try:
            entry = await self._kv.get(kv_key(message_id))
        except KeyNotFoundError:
            return None
        return entry.value.decode() if entry.value else None

    async def snapshot(self, envelope: Envelope) -> InMemoryRequestMemory:
        """A memory holding what ``decide`` may ask about ``envelope`` (its ``in_reply_to``)."""
        known: dict[str, str] = {}
        if envelope.in_reply_to is not None:
            requester = await self.requester_of(envelope.in_reply_to)
            if requester is not None:
                known[envelope.in_reply_to] = requester
        return InMemoryRequestMemory(known)

    async def remember(self, envelope: Envelope) -> None:
        """Record the sender of ``envelope`` when it is a request."""
        if is_request(envelope):
            await self._kv.put(kv_key(envelope.id), envelope.sender.country.encode())

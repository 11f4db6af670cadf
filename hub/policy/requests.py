"""The hub remembers who sent each request, so that a reply goes only to the requester.

The pipeline records every accepted request (see :data:`REQUEST_TYPES`) with
``remember``; :func:`hub.policy.decide.decide` asks ``requester_of`` when a message
carries ``in_reply_to``. The in-memory double is for tests and ``enlace agreements
explain``; the hub backs the protocol with a JetStream key-value bucket.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from schemas.envelope import Envelope

__all__ = [
    "REPLY_TYPES",
    "REQUEST_TYPES",
    "InMemoryRequestMemory",
    "RequestMemory",
    "is_request",
]

REQUEST_TYPES: frozenset[str] = frozenset({"information_request", "firearm_trace_request"})
"""Message types whose sender the hub remembers, to route the replies."""

REPLY_TYPES: frozenset[str] = frozenset({"information_response", "firearm_trace_result"})
"""Message types that answer a request: with ``in_reply_to`` they go to the requester only."""


def is_request(envelope: Envelope) -> bool:
    """Whether the hub must remember the sender of this accepted message."""
    return envelope.type in REQUEST_TYPES


@runtime_checkable
class RequestMemory(Protocol):
    """Who sent a request, by the request's message id."""

    def requester_of(self, message_id: str) -> str | None:
        """The country code that sent request ``message_id``, or None if it is not known."""
        ...


class InMemoryRequestMemory:
    """A dict-backed :class:`RequestMemory` (tests, offline ``explain``)."""

    def __init__(self, known: dict[str, str] | None = None) -> None:
        self._known: dict[str, str] = dict(known or {})

    def remember(self, message_id: str, requester: str) -> None:
        """Record that ``requester`` sent request ``message_id``."""
        self._known[message_id] = requester

    def remember_envelope(self, envelope: Envelope) -> None:
        """Record ``envelope`` if it is a request (see :data:`REQUEST_TYPES`)."""
        if is_request(envelope):
            self.remember(envelope.id, envelope.sender.country)

    def requester_of(self, message_id: str) -> str | None:
        return self._known.get(message_id)

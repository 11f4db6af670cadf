"""Who sent each accepted ``no_onward`` message, in a key-value bucket, against passing it on.

A message whose ``conditions.no_onward`` is set may not be passed on by its recipients
(:mod:`schemas.handling`). The hub keeps its id and its sender's country in the bucket
``enlace_onward`` (TTL: ``onward_memory``, a year by default) when it accepts it. A later
message whose ``derived_from`` names it, sent by another country, is refused
(``onward_not_allowed``) unless it carries that sender's consent for its own country,
signed by a key of that sender valid now in the directory in force. The original sender
may always build on its own message.

The bucket survives a hub restart (file storage, like every bucket of the hub); only the
hub's login may read or write it.
"""

from __future__ import annotations

from datetime import datetime

from nats.js.kv import KeyValue

from hub.errors import OnwardNotAllowed
from hub.pipeline.replay import kv_key, kv_text
from schemas.directory import Directory
from schemas.envelope import Envelope
from schemas.errors import SignatureError
from schemas.handling import SignedConsent, verify_consent

__all__ = ["OnwardMemory"]


class OnwardMemory:
    """The original senders of accepted ``no_onward`` messages, in a key-value bucket."""

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    async def original_sender(self, message_id: str) -> str | None:
        """The country that sent ``no_onward`` message ``message_id``, or None (no such
        message accepted, or it may be passed on)."""
        return await kv_text(self._kv, message_id)

    async def remember(self, envelope: Envelope) -> None:
        """Record the sender of ``envelope`` when it may not be passed on."""
        if envelope.conditions is not None and envelope.conditions.no_onward:
            await self._kv.put(kv_key(envelope.id), envelope.sender.country.encode())

    async def check(self, envelope: Envelope, directory: Directory, now: datetime) -> None:
        """Refuse ``envelope`` when it passes on another country's ``no_onward`` message
        without that country's consent.

        Args:
            envelope: the message, its signature already verified.
            directory: the directory in force (the consents' keys).
            now: the hub's time (the consent's key must be valid then).

        Raises:
            OnwardNotAllowed: naming the message passed on and what is missing.
        """
        sender = envelope.sender.country
        for source in dict.fromkeys(envelope.derived_from or ()):
            original = await self.original_sender(source)
            if original is None or original == sender:
                continue
            problem = _consent_problem(
                envelope.consents or (), source, original, sender, directory, now
            )
            if problem is not None:
                raise OnwardNotAllowed(
                    f"message {envelope.id} derives from {source}, which {original} sent "
                    f"marked no_onward, and {problem}; ask {original} for its consent "
                    f"(`enlace consent {source} --to {sender}` on its side) and attach it "
                    "(`enlace publish --consent FILE`)",
                    envelope.id,
                )


def _consent_problem(
    consents: tuple[SignedConsent, ...] | list[SignedConsent],
    source: str,
    original: str,
    sender: str,
    directory: Directory,
    now: datetime,
) -> str | None:
    """None when one of ``consents`` lets ``sender`` pass ``source`` on; else why not."""
    problem = f"it carries no consent of {original} for {sender} to pass it on"
    for signed in consents:
        consent = signed.consent
        if (consent.message_id, consent.sender, consent.by) != (source, original, sender):
            continue
        try:
            verify_consent(directory, signed, now)
        except SignatureError as err:
            problem = f"its consent for it does not hold ({err.code}: {err.description})"
            continue
        return None
    return problem

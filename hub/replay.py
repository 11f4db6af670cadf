"""Replay and duplicate refusal: the acceptance window and the ids the hub has accepted.

JetStream's duplicate window (minutes) is not enough against replay: a captured signed
message could be published again hours later. So the hub

- refuses a message whose ``issued_at`` is older than the acceptance window (default 24 h)
  or later than now + the allowed clock skew (default 5 min), and
- keeps every accepted id in a JetStream key-value bucket for as long as a message with
  that id could still be accepted (window + skew, the bucket's TTL), and refuses an id it
  has seen.

The value stored is the INGRESS stream sequence of the message that was accepted: when
JetStream redelivers that same message (the hub crashed before acking), the hub knows it is
its own redelivery, not a replay, and finishes it; the writes it repeats carry the same
``Nats-Msg-Id`` and JetStream keeps each once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from hub.errors import DuplicateMessage, MessageFromFuture, MessageTooOld
from schemas.govdoc import rfc3339

__all__ = ["SeenIds", "check_window", "kv_key"]


def check_window(
    message_id: str, issued_at: datetime, now: datetime, window: timedelta, skew: timedelta
) -> None:
    """Refuse a message issued before ``now - window`` or after ``now + skew``.

    Raises:
        MessageTooOld, MessageFromFuture.
    """
    if issued_at < now - window:
        raise MessageTooOld(
            f"message {message_id} was issued at {rfc3339(issued_at)}, more than "
            f"{window} before the hub received it; send a new message with a new id"
        )
    if issued_at > now + skew:
        raise MessageFromFuture(
            f"message {message_id} is issued at {rfc3339(issued_at)}, more than {skew} "
            f"after the hub's clock ({rfc3339(now)}); check the sending system's clock"
        )


def kv_key(message_id: str) -> str:
    """A KV key for a message id (ids are ULIDs or UUIDs: letters, digits and dashes)."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in message_id)


class SeenIds:
    """The ids the hub has accepted, backed by a key-value bucket with a TTL.

    One write per message: :meth:`claim` creates the key (the server refuses to create it
    twice), before any delivery is written. The value is the INGRESS sequence that
    claimed it, so a redelivery of that same INGRESS message (the hub failed before
    acking) is told apart from a replay under another sequence.
    """

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    async def accepted_at_seq(self, message_id: str) -> int | None:
        """The INGRESS sequence under which ``message_id`` was accepted, or None."""
        try:
            entry = await self._kv.get(kv_key(message_id))
        except KeyNotFoundError:
            return None
        if entry.value is None:
            return None
        try:
            return int(entry.value)
        except ValueError:
            return -1

    async def claim(self, message_id: str, ingress_seq: int) -> bool:
        """Claim ``message_id`` for INGRESS message ``ingress_seq``; True if it already was.

        True means a redelivery of the same INGRESS message: its writes may have been made
        already, and are made again (JetStream de-duplicates them by ``Nats-Msg-Id``).

        Raises:
            DuplicateMessage: the id was accepted before under another INGRESS message.
        """
        try:
            await self._kv.create(kv_key(message_id), str(ingress_seq).encode())
        except KeyWrongLastSequenceError:
            seq = await self.accepted_at_seq(message_id)
            if seq != ingress_seq:
                raise DuplicateMessage(
                    f"message id {message_id} was already accepted; a message is accepted "
                    "once (a new report needs a new id)"
                ) from None
            return True
        return False

    async def release(self, message_id: str, ingress_seq: int) -> bool:
        """Forget ``message_id`` if INGRESS message ``ingress_seq`` claimed it (a message
        the hub gave up on may be sent again); another message's claim is kept."""
        if await self.accepted_at_seq(message_id) != ingress_seq:
            return False
        await self._kv.delete(kv_key(message_id))
        return True

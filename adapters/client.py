"""The Python client of the exchange: sign, publish to the right subject, wait for the outcome.

What ``enlace publish`` uses, and what a national system can embed::

    nc = await nats.connect(url, nkeys_seed="nats/seeds/GT.nk", inbox_prefix="_INBOX.GT")
    client = EnlaceClient(nc)
    jws = EnlaceClient.sign(raw, key, kid)          # unless the message is signed already
    result = await client.publish(raw, jws)         # JetStream ack, then the hub's outcome
    if result.accepted: print(result.recipients)

The outcome comes on ``enlace.outcome.<cc>`` (core NATS), subscribed *before* publishing
so that it cannot be missed. A refusal is also kept as a notice on ``enlace.rejected.<cc>``.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from schemas.envelope import DEFAULT_MAX_BYTES, Envelope, parse_envelope
from schemas.errors import EnlaceError
from schemas.jws import sign_detached
from schemas.subjects import HDR_MSG_ID, HDR_SIGNATURE, ingress_subject, outcome_subject

__all__ = ["EnlaceClient", "OutcomeTimeout", "PublishResult"]


class OutcomeTimeout(EnlaceError, TimeoutError):
    """The message is in INGRESS (JetStream acked it) but the hub has not answered in time."""

    code = "outcome_timeout"


@dataclass(frozen=True)
class PublishResult:
    """What became of a published message.

    Attributes:
        message_id: the envelope's id.
        subject: where it was published.
        stream_seq: its sequence in INGRESS.
        duplicate: JetStream had this id already (published before, within its window);
            the hub's outcome then came at the first publish, not now.
        outcome: the hub's outcome JSON (``status``: accepted, partial, undeliverable,
            rejected; ``reason``, ``description``, ``recipients``, ``refused``), or None when
            not waited for.
    """

    message_id: str
    subject: str
    stream_seq: int
    duplicate: bool
    outcome: dict[str, Any] | None = None

    @property
    def status(self) -> str:
        if self.outcome is None:
            return "duplicate" if self.duplicate else "published"
        return str(self.outcome["status"])

    @property
    def accepted(self) -> bool:
        """Accepted by the hub (delivered to all, some or none of the countries)."""
        return self.status in ("accepted", "partial", "undeliverable")

    @property
    def rejected(self) -> bool:
        return self.status == "rejected"

    @property
    def recipients(self) -> list[dict[str, str]]:
        return list((self.outcome or {}).get("recipients", []))

    def to_dict(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "subject": self.subject,
            "stream_seq": self.stream_seq,
            "duplicate": self.duplicate,
            "status": self.status,
            "outcome": self.outcome,
        }


class EnlaceClient:
    """Publishes signed messages for one country's connection (injected, not owned)."""

    def __init__(self, nc: NatsClient, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.max_bytes = max_bytes

    @staticmethod
    def sign(raw: bytes, key: Ed25519PrivateKey, kid: str) -> str:
        """The detached JWS of the exact message bytes (``Enlace-Signature``)."""
        return sign_detached(raw, key, kid)

    @staticmethod
    def envelope_of(raw: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> Envelope:
        """Parse the envelope (size, JSON, fields); raises the typed errors of ``schemas``."""
        return parse_envelope(raw, max_bytes)

    async def publish(
        self, raw: bytes, jws: str, *, wait: bool = True, wait_seconds: float = 30.0
    ) -> PublishResult:
        """Publish ``raw`` with its signature; with ``wait``, return the hub's outcome.

        Raises:
            MessageError: the bytes are not a message envelope (nothing is published).
            OutcomeTimeout: no outcome within ``wait_seconds`` (the message is in INGRESS
                and will be handled; see ``enlace status``).
            nats errors: NATS unreachable, or this login may not publish there.
        """
        envelope = self.envelope_of(raw, self.max_bytes)
        cc = envelope.sender.country
        subject = ingress_subject(cc, envelope.theme.value, envelope.type)
        outcome: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

        async def on_outcome(msg: Msg) -> None:
            try:
                doc = json.loads(msg.data)
            except ValueError:
                return
            if doc.get("message_id") == envelope.id and not outcome.done():
                outcome.set_result(doc)

        sub = await self.nc.subscribe(outcome_subject(cc), cb=on_outcome) if wait else None
        try:
            ack = await self.js.publish(
                subject, raw, headers={HDR_SIGNATURE: jws, HDR_MSG_ID: envelope.id}
            )
            result = PublishResult(envelope.id, subject, ack.seq, bool(ack.duplicate))
            if not wait or result.duplicate:
                return result
            try:
                doc = await asyncio.wait_for(outcome, wait_seconds)
            except TimeoutError:
                raise OutcomeTimeout(
                    f"message {envelope.id} is in INGRESS (seq {ack.seq}) but the hub gave no "
                    f"outcome within {wait_seconds:g} s; is `enlace up` running? "
                    "(`enlace status` shows pending messages)"
                ) from None
            return PublishResult(envelope.id, subject, ack.seq, False, doc)
        finally:
            if sub is not None:
                await sub.unsubscribe()

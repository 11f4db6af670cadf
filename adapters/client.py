"""The Python client of the exchange: sign, publish to the right subject, wait for the outcome.

What ``enlace publish`` uses, and what a national system can embed::

    errors = ServerErrors(url, "GT")                # refusals fail at once, not as timeouts
    nc = await connect(url, login_for(Path("kit-GT")), errors)   # adapters.connection
    client = EnlaceClient(nc, errors=errors)
    jws = EnlaceClient.sign(raw, key, kid)          # unless the message is signed already
    result = await client.publish(raw, jws)         # JetStream ack, then the hub's outcome
    if result.accepted: print(result.recipients)
    later = await client.outcome(message_id, "GT")  # kept by the hub (7 days), or None

A recipient checks what its sink wrote (or its webhook received) the same way::

    check = EnlaceClient.verify_delivery(body, record_or_headers, directory)
    check.checked   # "signature" (full view) or "countersignature" (a redacted view)

The outcome comes on ``enlace.outcome.<cc>.<id>``, subscribed *before* publishing so that
it cannot be missed, and the hub keeps it there (stream ``OUTCOMES_<cc>``, the last one per
id, for ``outcome_max_age``): a publisher that stopped waiting, crashed or lost its
connection meanwhile collects it later with :meth:`EnlaceClient.outcome`, which
:meth:`EnlaceClient.publish` itself falls back on while it waits. Only the sender
country's login may read them. A refusal is also kept as a notice on
``enlace.rejected.<cc>``.

Two refusals happen before the hub sees the message, so the client raises them itself:
a message larger than the server takes (headers and body: ``MessageTooLarge``,
``too_large``, checked before sending, since the server would only drop the connection),
and a country whose ingress quota is full (:class:`~adapters.errors.IngressFull`,
``ingress_full``: JetStream refused to store it; try again later).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.errors import APIError, NotFoundError

from adapters.config import ingress_quota_from, max_message_bytes_from
from adapters.connection import ServerErrors
from adapters.delivery import DeliveryCheck
from adapters.errors import IngressFull, OutcomeNotPermitted, OutcomeTimeout, StreamsMissing
from adapters.kept import last_per_subject
from adapters.received import verify_received
from schemas.directory import Directory
from schemas.envelope import DEFAULT_MAX_BYTES, Envelope, parse_envelope
from schemas.errors import MessageTooLarge
from schemas.jws import sign_detached
from schemas.ledger import Ledger, LedgerReceipt
from schemas.limits import IngressQuota, headers_size
from schemas.outcomes import Outcome, RecipientView
from schemas.subjects import (
    HDR_MSG_ID,
    HDR_SIGNATURE,
    ingress_stream,
    ingress_subject,
    ledger_filter,
    outcome_stream,
    outcome_subject,
)

__all__ = ["EnlaceClient", "PublishResult"]


@dataclass(frozen=True)
class PublishResult:
    """What became of a published message.

    Attributes:
        message_id: the envelope's id.
        subject: where it was published.
        stream_seq: its sequence in INGRESS.
        duplicate: JetStream had this id already (published before, within its window);
            the hub's outcome then came at the first publish, not now.
        outcome: the hub's outcome (``status``: accepted, partial, undeliverable,
            rejected; ``reason``, ``description``, ``recipients``, ``refused``), or None when
            not waited for.
    """

    message_id: str
    subject: str
    stream_seq: int
    duplicate: bool
    outcome: Outcome | None = None

    @property
    def status(self) -> str:
        """The outcome's status, else ``duplicate`` or ``published`` (not waited for)."""
        if self.outcome is None:
            return "duplicate" if self.duplicate else "published"
        return self.outcome.status.value

    @property
    def accepted(self) -> bool:
        """Accepted by the hub (delivered to all, some or none of the countries)."""
        return self.status in ("accepted", "partial", "undeliverable")

    @property
    def rejected(self) -> bool:
        """Refused by the hub (quarantined, delivered to nobody)."""
        return self.status == "rejected"

    @property
    def undeliverable(self) -> bool:
        """Accepted by the hub, but nobody receives it (``outcome.refused`` says why)."""
        return self.status == "undeliverable"

    @property
    def already_published(self) -> bool:
        """This id was published before: caught by JetStream's de-duplication window
        (``duplicate``) or, later, by the hub's record of seen ids (rejected ``duplicate``).
        Either way nothing was delivered again."""
        return self.duplicate or (
            self.outcome is not None and self.rejected and self.outcome.reason == "duplicate"
        )

    @property
    def recipients(self) -> tuple[RecipientView, ...]:
        """The countries it was delivered to, with their views (none when not waited for)."""
        return () if self.outcome is None else self.outcome.recipients

    def to_dict(self) -> dict[str, Any]:
        """JSON types only; ``outcome`` as it came on the wire."""
        return {
            "message_id": self.message_id,
            "subject": self.subject,
            "stream_seq": self.stream_seq,
            "duplicate": self.duplicate,
            "status": self.status,
            "outcome": None if self.outcome is None else self.outcome.to_dict(),
        }


_QUOTA_FULL = ("maximum bytes exceeded", "maximum messages exceeded")
"""What JetStream says when a stream with ``discard: new`` is full (err_code 10077)."""
_RECHECK_SECONDS = 5.0
"""While waiting for an outcome, how often to look for it among the kept ones too (it was
published while this connection was away: a NATS restart, a reconnect)."""


class EnlaceClient:
    """Publishes signed messages for one country's connection (injected, not owned).

    Args:
        nc: the country's NATS connection.
        max_bytes: the hub's message size limit (``hub.max_message_bytes``).
        quota: the hub's ingress quota per country, to say what is full when it is.
        errors: the connection's :class:`~adapters.connection.ServerErrors` (its
            ``error_cb``), so that a publish the server refuses to this login fails at
            once (:class:`~adapters.errors.PublishForbidden`) instead of timing out.
    """

    def __init__(
        self,
        nc: NatsClient,
        max_bytes: int = DEFAULT_MAX_BYTES,
        quota: IngressQuota | None = None,
        errors: ServerErrors | None = None,
    ) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.max_bytes = max_bytes
        self.quota = quota or IngressQuota()
        self.errors = errors

    @classmethod
    def of_deployment(
        cls, nc: NatsClient, home: Path | None, errors: ServerErrors | None = None
    ) -> EnlaceClient:
        """A client with the limits of the deployment at ``home`` (its ``enlace.yaml``).

        Args:
            nc: the country's NATS connection.
            home: the deployment (or party kit) folder.
            errors: the connection's ``error_cb`` (see the class).

        Raises:
            AdapterConfigError: a limit in ``enlace.yaml`` is not a number.
        """
        return cls(nc, max_message_bytes_from(home), ingress_quota_from(home), errors)

    @staticmethod
    def sign(raw: bytes, key: Ed25519PrivateKey, kid: str) -> str:
        """The detached JWS of the exact message bytes (``Enlace-Signature``).

        Args:
            raw: the message bytes, exactly as they will be published.
            key: the point of contact's private key.
            kid: that key's id in the directory.
        """
        return sign_detached(raw, key, kid)

    @staticmethod
    def envelope_of(raw: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> Envelope:
        """Parse the envelope (size, JSON, fields); raises the typed errors of ``schemas``."""
        return parse_envelope(raw, max_bytes)

    @staticmethod
    def verify_delivery(
        body: bytes,
        fields: Mapping[str, Any],
        directory: Directory,
        at: datetime | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> DeliveryCheck:
        """Verify a delivery as a recipient received it, against the directory.

        A full view is checked by the sender's signature over the exact bytes; a redacted
        view by the hub's countersignature over the view's digest and the original's.

        Args:
            body: the delivered bytes, exactly (a folder sink's ``<id>.json``, a record's
                ``raw``, a webhook request's body).
            fields: what the sink kept beside them: the ``.meta`` file, a JSON Lines record,
                a PostgreSQL row (as a mapping), or the webhook request's headers.
            directory: the deployment's accepted directory
                (``adapters.deployment.DirectoryFile(AdapterHome(home))()``).
            at: when the keys must have been valid (default: when the hub published it).
            max_bytes: the deployment's message size limit.

        Returns:
            What was checked: ``checked``, ``kid``, ``signer``, ``view``, digests.

        Raises:
            MalformedDelivery: something a recipient needs is missing.
            TamperedDelivery: a check failed; ``reason`` names it (``bad_signature`` …).
        """
        return verify_received(body, fields, directory, at, max_bytes)

    async def publish(
        self, raw: bytes, jws: str, *, wait: bool = True, wait_seconds: float = 30.0
    ) -> PublishResult:
        """Publish ``raw`` with its signature; with ``wait``, return the hub's outcome.

        Args:
            raw: the message bytes (an envelope; its sender, theme and type give the subject).
            jws: their detached signature (:meth:`sign`).
            wait: wait for the hub's outcome (else return once JetStream stored it).
            wait_seconds: how long to wait for it.

        Raises:
            MessageError: the bytes are not a message envelope, or larger than the hub's
                limit or than the server takes (``too_large``; nothing is published).
            IngressFull: the country's ingress quota is full (nothing is published).
            OutcomeTimeout: no outcome within ``wait_seconds`` (the message is in INGRESS
                and will be handled; see ``enlace status``).
            PublishForbidden: the server refused this login the subject (with ``errors``;
                without, nats-py's timeout).
            nats errors: NATS unreachable.
        """
        envelope = self.envelope_of(raw, self.max_bytes)
        cc = envelope.sender.country
        subject = ingress_subject(cc, envelope.theme.value, envelope.type)
        outcome: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()

        async def on_outcome(msg: Msg) -> None:
            try:
                said = Outcome.from_json(msg.data)
            except ValueError:
                return  # not an outcome: nothing this publish waits for
            if said.message_id == envelope.id and not outcome.done():
                outcome.set_result(said)

        headers = {HDR_SIGNATURE: jws, HDR_MSG_ID: envelope.id}
        self._check_wire_size(raw, headers)
        live = outcome_subject(cc, envelope.id)
        sub = await self.nc.subscribe(live, cb=on_outcome) if wait else None
        try:
            try:
                sending = self.js.publish(subject, raw, headers=headers)
                if self.errors is None:
                    ack = await sending
                else:
                    quiet = [live] if wait else []
                    ack = await self.errors.guard(subject, sending, quiet)
            except APIError as err:
                if err.description in _QUOTA_FULL:
                    raise IngressFull(
                        cc, ingress_stream(cc), self.quota, err.description, envelope.id
                    ) from None
                raise
            result = PublishResult(envelope.id, subject, ack.seq, bool(ack.duplicate))
            if not wait or result.duplicate:
                return result
            said = await self._wait(outcome, envelope.id, cc, wait_seconds)
            if said is None:
                raise OutcomeTimeout(envelope.id, subject, ack.seq, wait_seconds)
            return PublishResult(envelope.id, subject, ack.seq, False, said)
        finally:
            if sub is not None:
                await sub.unsubscribe()

    async def _wait(
        self, live: asyncio.Future[Outcome], message_id: str, cc: str, seconds: float
    ) -> Outcome | None:
        """The outcome as it is published, or as the hub kept it (looked for every
        :data:`_RECHECK_SECONDS` and at the end); None when there is none in ``seconds``."""
        deadline = asyncio.get_running_loop().time() + seconds
        while True:
            left = deadline - asyncio.get_running_loop().time()
            try:
                return await asyncio.wait_for(
                    asyncio.shield(live), max(0.0, min(left, _RECHECK_SECONDS))
                )
            except TimeoutError:
                pass
            try:
                kept = await asyncio.wait_for(self.outcome(message_id, cc), max(left, 2.0))
            except (TimeoutError, NoRespondersError, StreamsMissing):
                kept = None  # NATS away or an older hub: the live outcome may still come
            if kept is not None:
                return kept
            if asyncio.get_running_loop().time() >= deadline:
                return None

    async def outcome(self, message_id: str, country: str) -> Outcome | None:
        """The hub's kept outcome of message ``message_id`` sent by ``country``.

        The hub keeps the last outcome of each message for ``outcome_max_age`` (7 days by
        default) in ``OUTCOMES_<country>``, which only ``country``'s own login may read: a
        sender collects what became of a message it stopped waiting for.

        Args:
            message_id: the message's id.
            country: its sender's country (this connection's login).

        Returns:
            The outcome, or None when none is kept: it expired, or ``country`` never sent
            ``message_id`` (or the hub has not finished it yet).

        Raises:
            OutcomeNotPermitted: this login may not read ``country``'s outcomes.
            StreamsMissing: no outcome stream for ``country`` (the hub never ran here,
                or is of an older version).
            nats.errors.TimeoutError: NATS did not answer.
        """
        stream, subject = outcome_stream(country), outcome_subject(country, message_id)
        try:
            kept = await self.js.get_last_msg(stream, subject, direct=True)
        except NotFoundError:
            return None
        except NoRespondersError:
            raise StreamsMissing(
                f"no stream {stream} on this NATS: the hub keeps no outcomes here (it never "
                "ran, or is older than `enlace outcome`)"
            ) from None
        except NatsTimeoutError:
            refused = str(self.nc.last_error or "").lower()
            if "permissions violation" in refused and stream.lower() in refused:
                raise OutcomeNotPermitted(message_id, country) from None
            raise
        return Outcome.from_json(kept.data or b"")

    async def ledger(self, message_id: str, country: str) -> Ledger | None:
        """The delivery ledger of ``country``'s message ``message_id``: its kept outcome and
        every recipient sink's receipt so far (:mod:`schemas.ledger`).

        Args:
            message_id: the message's id.
            country: its sender's country (this connection's login).

        Returns:
            The ledger, or None when no outcome is kept (see :meth:`outcome`).

        Raises:
            OutcomeNotPermitted: this login may not read ``country``'s outcomes.
            StreamsMissing: no outcome stream for ``country``.
            nats.js.errors.APIError: the server refused the ledger's read otherwise.
            nats.errors.TimeoutError: NATS did not answer.
        """
        said = await self.outcome(message_id, country)
        if said is None:
            return None
        stream = outcome_stream(country)
        kept = await last_per_subject(self.nc, stream, ledger_filter(country, message_id))
        receipts = tuple(LedgerReceipt.from_json(body) for body in kept)
        return Ledger(outcome=said, receipts=receipts)

    def _check_wire_size(self, raw: bytes, headers: dict[str, str]) -> None:
        """Refuse what the server would not take: it counts headers and body together,
        and drops the connection instead of answering (nobody would learn why)."""
        size = len(raw) + headers_size(headers)
        limit = self.nc.max_payload
        if limit and size > limit:
            raise MessageTooLarge(size, limit)

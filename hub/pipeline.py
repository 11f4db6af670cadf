"""The hub pipeline: one INGRESS message in, its deliveries or its refusal out, then ack.

For each message::

    size limit → envelope → signature (directory) → subject tokens = body → schema
      → acceptance window → seen ids (replay/duplicate) → agreements decide
      → one delivery per recipient (hub countersignature for redacted views) ∥ notice
      → audit → mark the id seen → outcome to the sender → ack INGRESS

Nothing is lost: INGRESS is acked only after every delivery (or the quarantine copy and
the notice) is persisted; an internal failure leaves the message unacked and JetStream
redelivers it. Nothing is doubled: deliveries carry ``Nats-Msg-Id: <id>:<cc>`` and
notices/quarantine copies ``in<seq>:…`` so that a redelivery is de-duplicated by
JetStream; once the id is marked seen, a redelivery of the same INGRESS message only
repeats the outcome and acks.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from hub.config import HubSettings
from hub.errors import HubError, MessageRefused
from hub.metrics import HubMetrics
from hub.notices import Outcome, OutcomeStatus, RecipientView, RefusedRecipient
from hub.policy import AgreementSet, Decision, Route, decide, render_view
from hub.quarantine import quarantine_record
from hub.replay import SeenIds, check_window
from hub.requests_kv import KvRequestMemory
from schemas.countersign import countersign_view, sha256_digest
from schemas.directory import Directory
from schemas.envelope import Envelope, parse_envelope
from schemas.errors import EnlaceError, MalformedSignature, MessageError, SignatureError
from schemas.errors import SubjectMismatch as SubjectMismatchError
from schemas.message import validate_envelope
from schemas.subjects import (
    HDR_AGREEMENT,
    HDR_COUNTERSIGNATURE,
    HDR_MSG_ID,
    HDR_ORIGINAL_DIGEST,
    HDR_RECIPIENT,
    HDR_SIGNATURE,
    HDR_VIEW,
    delivery_subject,
    outcome_subject,
    parse_ingress_subject,
    rejected_subject,
)

__all__ = [
    "AuditHook",
    "Governance",
    "HubSigner",
    "MessageContext",
    "Pipeline",
    "sender_token",
    "thread_key",
]

log = structlog.get_logger("enlace.hub.pipeline")

Refusal = EnlaceError  # every refusal is a typed error with a reason code


@dataclass(frozen=True)
class Governance:
    """The directory and agreements in force; replaced as a whole on reload."""

    directory: Directory
    agreements: AgreementSet


@dataclass(frozen=True)
class HubSigner:
    """The hub's private key and its directory key id, for countersigning redacted views."""

    key: Ed25519PrivateKey
    kid: str


@dataclass(frozen=True)
class MessageContext:
    """What the audit hook is told about one handled message (metadata, never payload)."""

    outcome: Outcome
    ingress_subject: str
    ingress_seq: int
    sender_country: str
    digest: str
    envelope: Envelope | None
    decision: Decision | None
    size: int = 0
    view_digests: dict[str, str] = field(default_factory=dict)
    """Recipient → ``sha256:`` digest of the bytes it was sent (its view)."""


class AuditHook(Protocol):
    """Records each outcome durably before INGRESS is acked (see :mod:`hub.audit`)."""

    async def record(self, context: MessageContext) -> None: ...


def sender_token(subject: str) -> str:
    """The country token of an INGRESS subject, ``XX`` when it is not a country code.

    NATS permissions let a country publish only under its own code, so this token names
    who published, whatever the body claims.
    """
    parts = subject.split(".")
    cc = parts[2] if len(parts) > 2 else ""
    return cc if len(cc) == 2 and cc.isascii() and cc.isupper() and cc.isalpha() else "XX"


def thread_key(msg: Msg) -> str:
    """The ordering key of a message: its ``correlation_id``, else itself (no constraint)."""
    try:
        doc = json.loads(msg.data)
        correlation = doc.get("correlation_id") if isinstance(doc, dict) else None
    except ValueError:
        correlation = None
    if isinstance(correlation, str) and correlation:
        return f"{sender_token(msg.subject)}:{correlation}"
    return f"seq:{_seq(msg)}:{id(msg)}"


def _safe_id(value: str | None) -> str | None:
    if value and len(value) <= 64 and all(c.isalnum() or c in "-_" for c in value):
        return value
    return None


class Pipeline:
    """Handles INGRESS messages; one instance per hub process, shared by its workers."""

    def __init__(
        self,
        nc: NatsClient,
        js: JetStreamContext,
        settings: HubSettings,
        governance: Governance,
        signer: HubSigner,
        seen: SeenIds,
        requests: KvRequestMemory,
        audit: AuditHook | None = None,
        metrics: HubMetrics | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.nc = nc
        self.js = js
        self.settings = settings
        self.governance = governance
        self.signer = signer
        self.seen = seen
        self.requests = requests
        self.audit = audit
        self.metrics = metrics or HubMetrics()
        self.clock = clock

    # -- batches -------------------------------------------------------------------------------

    async def handle_batch(self, msgs: Sequence[Msg]) -> None:
        """Handle a fetched batch concurrently, keeping the order of each thread.

        Messages that share a ``correlation_id`` (a request and its follow-ups) are handled
        one after the other, in INGRESS order; all others in parallel. The order that
        routing depends on, a request before its replies, holds by construction: a reply
        can only be written after its request was delivered, and the hub remembers the
        requester before delivering the request.
        """
        threads: dict[str, list[Msg]] = {}
        for msg in msgs:
            threads.setdefault(thread_key(msg), []).append(msg)
        await asyncio.gather(*(self._in_order(group) for group in threads.values()))

    async def _in_order(self, msgs: list[Msg]) -> None:
        for msg in msgs:
            await self.handle_safely(msg)

    async def handle_safely(self, msg: Msg) -> Outcome | None:
        """Handle one message; on an internal failure leave it for redelivery."""
        started = time.perf_counter()
        try:
            outcome = await self.handle(msg)
        except Exception as exc:
            # NATS unavailable, a store full, a bug: the message is not acked, so it is
            # redelivered after a short delay; nothing was half-acknowledged.
            self.metrics.errors.labels(type(exc).__name__).inc()
            attempts = _attempts(msg)
            if attempts >= self.settings.poison_after:
                quarantined = await self._give_up(msg, exc, attempts)
                if quarantined is not None:
                    return quarantined
            log.error(
                "pipeline_error",
                subject=msg.subject,
                seq=_seq(msg),
                error=type(exc).__name__,
                detail=str(exc)[:300],
            )
            try:
                await msg.nak(delay=1.0)
            except Exception as nak_exc:  # the connection may be gone: ack_wait redelivers
                log.warning("nak_failed", error=type(nak_exc).__name__)
            return None
        self.metrics.handle_seconds.observe(time.perf_counter() - started)
        self.metrics.messages.labels(outcome.status.value, outcome.reason).inc()
        return outcome

    async def _give_up(self, msg: Msg, exc: Exception, attempts: int) -> Outcome | None:
        """Quarantine a message the hub keeps failing on (a poison message), so it stops
        blocking; None when even that fails (it is then retried as before)."""
        headers = dict(msg.headers or {})
        cc = sender_token(msg.subject)
        seq = _seq(msg)
        err = HubError(
            f"the hub failed {attempts} times on this message ({type(exc).__name__}); "
            "it is kept in quarantine for an operator, with its bytes and headers. Some "
            "recipients may have received it before the failure: ask the operator before "
            "sending it again"
        )
        message_id = _safe_id(headers.get(HDR_MSG_ID)) or f"in{seq}"
        try:
            return await self._refuse(msg, cc, seq, headers, message_id, err, self.clock())
        except Exception as again:
            log.error("quarantine_failed", seq=seq, error=type(again).__name__)
            return None

    # -- one message ---------------------------------------------------------------------------

    async def handle(self, msg: Msg) -> Outcome:
        """Accept and route, or refuse, one INGRESS message; ack it when all is persisted."""
        now = self.clock()
        gov = self.governance  # one consistent snapshot even if a reload happens meanwhile
        seq = _seq(msg)
        headers = dict(msg.headers or {})
        cc = sender_token(msg.subject)
        envelope: Envelope | None = None
        try:
            envelope = parse_envelope(msg.data, self.settings.max_message_bytes)
            jws = self._verify(msg, headers, envelope, gov, now)
            validate_envelope(envelope)
            check_window(
                envelope.id,
                envelope.issued_at,
                now,
                self.settings.acceptance_window,
                self.settings.clock_skew,
            )
            done = await self.seen.check(envelope.id, seq)
        except (MessageError, SignatureError, MessageRefused) as err:
            message_id = envelope.id if envelope else _safe_id(headers.get(HDR_MSG_ID))
            return await self._refuse(msg, cc, seq, headers, message_id or f"in{seq}", err, now)
        return await self._route(msg, cc, seq, envelope, jws, gov, now, done)

    def _verify(
        self, msg: Msg, headers: dict[str, str], envelope: Envelope, gov: Governance, at: datetime
    ) -> str:
        jws = headers.get(HDR_SIGNATURE)
        if not jws:
            raise MalformedSignature(
                f"message {envelope.id} has no {HDR_SIGNATURE} header; sign it with the "
                "POC's key (`enlace publish` does)"
            )
        gov.directory.verify_message(msg.data, jws, envelope, at)
        tokens = parse_ingress_subject(msg.subject)
        body = (envelope.sender.country, envelope.theme.value, envelope.type)
        if tokens is None or (tokens.country, tokens.theme, tokens.type) != body:
            raise SubjectMismatchError(
                f"message {envelope.id} came on {msg.subject!r} but its body says "
                f"enlace.in.{'.'.join(body)}; publish it on the subject of its sender "
                "country, theme and type"
            )
        return jws

    async def _refuse(
        self,
        msg: Msg,
        cc: str,
        seq: int,
        headers: dict[str, str],
        message_id: str,
        err: Refusal,
        now: datetime,
    ) -> Outcome:
        outcome = Outcome(
            message_id=message_id,
            status=OutcomeStatus.REJECTED,
            at=now,
            reason=err.code,
            description=err.description,
        )
        subject, q_headers = quarantine_record(
            cc, msg.subject, seq, headers, err.code, err.description
        )
        writes: list[Awaitable[Any]] = [self.js.publish(subject, msg.data, headers=q_headers)]
        if cc != "XX":
            writes.append(self._notice(cc, seq, outcome))
        await asyncio.gather(*writes)
        digest = sha256_digest(msg.data)
        await self._audit(
            MessageContext(outcome, msg.subject, seq, cc, digest, None, None, len(msg.data))
        )
        log.info("rejected", message_id=message_id, sender=cc, reason=err.code, seq=seq)
        await self._finish(msg, cc, outcome)
        return outcome

    async def _route(
        self,
        msg: Msg,
        cc: str,
        seq: int,
        envelope: Envelope,
        jws: str,
        gov: Governance,
        now: datetime,
        done: bool,
    ) -> Outcome:
        memory = await self.requests.snapshot(envelope)
        decision = decide(envelope, gov.agreements, gov.directory, now, memory)
        outcome = _outcome_of(decision, now)
        digest = sha256_digest(msg.data)
        if not done:
            # A request's sender is on record before anyone can receive it and reply.
            await self.requests.remember(envelope)
            writes: list[Awaitable[Any]] = []
            if outcome.is_notice:
                writes.append(self._notice(cc, seq, outcome))
            prepared = [
                self._delivery(route, envelope, msg.data, jws, digest)
                for route in decision.recipients
            ]
            deliveries = [self._publish_delivery(*d) for d in prepared]
            views = {
                route.recipient: digest if body is msg.data else sha256_digest(body)
                for route, (_, body, _) in zip(decision.recipients, prepared, strict=True)
            }
            context = MessageContext(
                outcome, msg.subject, seq, cc, digest, envelope, decision, len(msg.data), views
            )
            # Deliveries, notice and audit entries in parallel: one round trip instead of
            # two. After a crash the redelivery repeats them (JetStream de-duplicates the
            # deliveries; the audit log may then hold the decision twice, never zero times).
            await asyncio.gather(*deliveries, *writes, self._audit(context))
            await self.seen.mark(envelope.id, seq)
        log.info(
            "accepted",
            message_id=envelope.id,
            sender=cc,
            status=outcome.status.value,
            recipients=[r.country for r in outcome.recipients],
            redelivered=done,
        )
        await self._finish(msg, cc, outcome)
        return outcome

    def _delivery(
        self, route: Route, envelope: Envelope, raw: bytes, jws: str, digest: str
    ) -> tuple[str, bytes, dict[str, str]]:
        """The subject, body and headers of one recipient's delivery."""
        view = route.view
        headers = {
            HDR_MSG_ID: f"{envelope.id}:{route.recipient}",
            HDR_VIEW: view.name,
            HDR_AGREEMENT: route.agreement,
            HDR_RECIPIENT: route.recipient,
            HDR_ORIGINAL_DIGEST: digest,
            HDR_SIGNATURE: jws,
        }
        body = raw
        if not view.is_full:
            body = render_view(raw, view)
            headers[HDR_COUNTERSIGNATURE] = countersign_view(
                envelope.id,
                digest,
                route.recipient,
                view.name,
                body,
                self.signer.key,
                self.signer.kid,
            )
        subject = delivery_subject(route.recipient, envelope.theme.value, envelope.type)
        return subject, body, headers

    async def _publish_delivery(self, subject: str, body: bytes, headers: dict[str, str]) -> None:
        await self.js.publish(subject, body, headers=headers)
        kind = "full" if headers[HDR_VIEW] == "full" else "view"
        self.metrics.deliveries.labels(headers[HDR_RECIPIENT], kind).inc()

    async def _notice(self, cc: str, seq: int, outcome: Outcome) -> None:
        headers = {HDR_MSG_ID: f"in{seq}:notice"}
        await self.js.publish(rejected_subject(cc), outcome.to_json(), headers=headers)

    async def _audit(self, context: MessageContext) -> None:
        if self.audit is not None:
            await self.audit.record(context)

    async def _finish(self, msg: Msg, cc: str, outcome: Outcome) -> None:
        # The outcome is a courtesy to a waiting `enlace publish`; the notice is the record.
        if cc != "XX":
            await self.nc.publish(outcome_subject(cc), outcome.to_json())
        await msg.ack()


def _attempts(msg: Msg) -> int:
    try:
        return int(msg.metadata.num_delivered)
    except Exception:  # not a JetStream message (tests)
        return 1


def _seq(msg: Msg) -> int:
    try:
        return int(msg.metadata.sequence.stream)
    except Exception:  # not a JetStream message (tests): no sequence
        return 0


def _outcome_of(decision: Decision, now: datetime) -> Outcome:
    recipients = tuple(
        RecipientView(r.recipient, r.view_name, r.agreement) for r in decision.recipients
    )
    refused = tuple(RefusedRecipient(r.recipient, r.reason, r.detail) for r in decision.refused)
    if not recipients:
        return Outcome(
            message_id=decision.message_id,
            status=OutcomeStatus.UNDELIVERABLE,
            at=now,
            reason="undeliverable",
            description=(
                f"message {decision.message_id} is accepted, but no sharing agreement in "
                "force lets it reach any country; it was delivered to nobody"
            ),
            refused=refused,
        )
    if refused:
        names = ", ".join(f"{r.country} ({r.reason})" for r in refused)
        return Outcome(
            message_id=decision.message_id,
            status=OutcomeStatus.PARTIAL,
            at=now,
            reason="partly_refused",
            description=(
                f"message {decision.message_id} is delivered to "
                f"{', '.join(r.country for r in recipients)}, but not to {names}"
            ),
            recipients=recipients,
            refused=refused,
        )
    return Outcome(
        message_id=decision.message_id,
        status=OutcomeStatus.ACCEPTED,
        at=now,
        description=f"delivered to {', '.join(r.country for r in recipients)}",
        recipients=recipients,
    )

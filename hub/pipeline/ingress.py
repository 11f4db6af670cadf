"""The hub pipeline: one INGRESS message in, its deliveries or its refusal out, then ack.

For each message::

    size limit → envelope → signature (directory) → subject tokens = body → schema
      → acceptance window                               (hub.pipeline.checks, for a whole batch)
      → agreements decide → an amendment marks what it amends (hub.pipeline.amendments)
      → claim the id (replay/duplicate; by default the claim is the
        routing record, :mod:`hub.pipeline.replay`)
      → one delivery per recipient (hub countersignature for redacted views) ∥ notice
        ∥ audit entries → outcome to the sender (kept: OUTCOMES_<cc>) → ack INGRESS

Nothing is lost: INGRESS is acked only after every delivery (or the quarantine copy and
the notice), the audit entries and then the outcome are persisted
(:mod:`hub.pipeline.outcomes`); an internal failure leaves the message
unacked and JetStream redelivers it. Nothing is doubled: deliveries carry ``Nats-Msg-Id:
<id>:<cc>`` and notices/quarantine copies ``<stream>-<seq>:…``
(:func:`hub.pipeline.checks.ingress_ref`: unique across the countries' ingress streams), so
when a redelivery repeats them (its id is
claimed by the same ingress message) JetStream keeps each once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import structlog
from nats.aio.msg import Msg

from hub.audit import AuditWriter
from hub.config import HubSettings
from hub.errors import HubError, MessageRefused
from hub.governance.model import Governance, HubSigner
from hub.jetstream.writer import JetStreamWriter, Write
from hub.metrics import HubMetrics
from hub.pipeline.amendments import Amendment, AmendmentIndex, RoutedRecord
from hub.pipeline.checks import Checked, check_batch
from hub.pipeline.deliveries import delivery_writes
from hub.pipeline.outcomes import OutcomeStore
from hub.pipeline.quarantine import quarantine_record
from hub.pipeline.replay import SeenIdStore
from hub.pipeline.requests import KvRequestMemory
from hub.policy import Decision, decide
from schemas.countersign import sha256_digest
from schemas.envelope import Envelope
from schemas.errors import EnlaceError
from schemas.limits import wire_limit
from schemas.outcomes import Outcome, OutcomeStatus, RecipientView, RefusedRecipient
from schemas.subjects import (
    HDR_MSG_ID,
    HDR_VIEW,
    UNKNOWN_COUNTRY,
    rejected_subject,
)

__all__ = [
    "AuditHook",
    "MessageContext",
    "Pipeline",
]

log = structlog.get_logger("enlace.hub.pipeline")


@dataclass(frozen=True)
class MessageContext:
    """What the audit hook is told about one handled message (metadata, never payload)."""

    outcome: Outcome
    ingress_subject: str
    ingress_seq: int
    """Its sequence in its ingress stream (``INGRESS_<sender>``)."""
    sender_country: str
    digest: str
    envelope: Envelope | None
    decision: Decision | None
    size: int = 0
    view_digests: dict[str, str] = field(default_factory=dict)
    """Recipient → ``sha256:`` digest of the bytes it was sent (its view)."""
    again: bool = False
    """Handled before under the same ingress message without an ack (a redelivery)."""
    ingress_ref: str | None = None
    """Its name among all ingress messages (:func:`hub.pipeline.checks.ingress_ref`)."""


@dataclass(frozen=True)
class _Planned:
    """What was decided for an accepted message before its writes."""

    decision: Decision
    amendment: Amendment | None
    routed: RoutedRecord
    """Its routing record (kept by the claim of its id, or written with its deliveries)."""
    again: bool
    """A redelivery of the same ingress message."""


class AuditHook(Protocol):
    """Records each outcome durably before INGRESS is acked (see :mod:`hub.audit`).

    ``record`` returns what to await for the record to be persisted (a future or a
    coroutine); the pipeline awaits it together with the message's other writes.
    """

    @property
    def writer(self) -> AuditWriter | None:
        """The audit log the hook appends to, where the hub app also records the sinks'
        receipts and consumer repairs; None when it keeps no such log."""

    def record(self, context: MessageContext) -> Awaitable[object]:
        """What to await for ``context``'s entries to be persisted."""


class Pipeline:
    """Handles INGRESS messages; one instance per hub process, shared by its pull loops.

    Args:
        outcomes: keeps each outcome for its sender (and tells a waiting one).
        writer: the batch writer of deliveries, notices and quarantine copies.
        settings: the hub settings (limits, window, poison threshold).
        governance: the directory and agreements in force (:attr:`governance` is
            replaced on reload; a batch keeps the one it started with).
        signer: the hub key that countersigns redacted views.
        seen: the accepted ids (replay and duplicate refusal).
        requests: who sent each request (replies go to the requester only).
        amends: what was routed to whom (corrections and retractions follow it).
        audit: records each outcome before the ack (None: no audit log).
        metrics: counts outcomes, deliveries and errors.
        clock: the time source (tests).
    """

    def __init__(
        self,
        outcomes: OutcomeStore,
        writer: JetStreamWriter,
        settings: HubSettings,
        governance: Governance,
        signer: HubSigner,
        seen: SeenIdStore,
        requests: KvRequestMemory,
        amends: AmendmentIndex,
        audit: AuditHook | None = None,
        metrics: HubMetrics | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.outcomes = outcomes
        self.writer = writer
        self.settings = settings
        self.governance = governance
        self.signer = signer
        self.seen = seen
        self.requests = requests
        self.amends = amends
        self.audit = audit
        self.metrics = metrics or HubMetrics()
        self.clock = clock

    # -- batches -------------------------------------------------------------------------------

    async def handle_batch(
        self, msgs: Sequence[Msg], each_done: Callable[[], None] | None = None
    ) -> None:
        """Handle a fetched batch concurrently, keeping the order of each thread.

        ``each_done`` is called as each message is finished (acked or left for
        redelivery), so a worker can fetch more without waiting for the slowest one.

        The I/O-free checks of the whole batch run first (:mod:`hub.pipeline.checks`),
        giving the ordering key. Messages that share a ``correlation_id`` (a request and its
        follow-ups) are handled one after the other, in INGRESS order; all others in
        parallel. A request comes before its replies by construction: a reply can only be
        written after its request was delivered, and the hub remembers the requester (and
        a ``no_onward`` message's sender) before delivering.
        """
        gov = self.governance  # one consistent snapshot even if a reload happens meanwhile
        now = self.clock()
        checked = check_batch(msgs, gov.directory, self.settings, now)
        threads: dict[str, list[Checked]] = {}
        for item in checked:
            threads.setdefault(item.thread_key, []).append(item)
        groups = threads.values()
        await asyncio.gather(*(self._in_order(group, gov, each_done) for group in groups))

    async def _in_order(
        self, items: list[Checked], gov: Governance, each_done: Callable[[], None] | None
    ) -> None:
        for item in items:
            try:
                await self.handle_safely(item, gov)
            finally:
                if each_done is not None:
                    each_done()

    async def handle_safely(self, item: Checked, gov: Governance) -> Outcome | None:
        """Handle one checked message; on an internal failure leave it for redelivery."""
        started = time.perf_counter()
        msg = item.msg
        try:
            outcome = await self._handle(item, gov)
        except Exception as exc:
            # NATS unavailable, a store full, a bug: the message is not acked, so it is
            # redelivered after a short delay; nothing was half-acknowledged.
            self.metrics.errors.labels(type(exc).__name__).inc()
            attempts = _attempts(msg)
            if attempts >= self.settings.poison_after:
                quarantined = await self._give_up(item, exc, attempts)
                if quarantined is not None:
                    return quarantined
            log.error(
                "pipeline_error",
                subject=msg.subject,
                ingress=item.ref,
                error=type(exc).__name__,
                detail=str(exc)[:300],
            )
            try:
                await msg.nak(delay=1.0)
            except Exception as nak_exc:  # the connection may be gone: ack_wait redelivers
                log.warning("nak_failed", error=type(nak_exc).__name__)
            return None
        self.metrics.handled(outcome.status.value, outcome.reason, time.perf_counter() - started)
        return outcome

    async def _give_up(self, item: Checked, exc: Exception, attempts: int) -> Outcome | None:
        """Quarantine a message the hub keeps failing on (a poison message), so it stops
        blocking; None when even that fails (it is then retried as before)."""
        err = HubError(
            f"the hub failed {attempts} times on this message ({type(exc).__name__}); "
            "it is kept in quarantine for an operator, with its bytes and headers. Some "
            "recipients may have received it before the failure: ask the operator before "
            "sending it again (it can still be corrected or retracted; once it is, its id "
            "stays taken)"
        )
        if item.envelope is not None:
            # The same id may be sent again once fixed: free before its sender hears so (an
            # audit log's claim is freed by the refusal's own entry, below). Its routing
            # record stays, for its amendments (SeenIds.release).
            with contextlib.suppress(Exception):
                await self.seen.release(item.envelope.id, item.ref)
        try:
            return await self._refuse(item, err, self.clock())
        except Exception as again:
            log.error("quarantine_failed", ingress=item.ref, error=type(again).__name__)
            return None

    # -- one message ---------------------------------------------------------------------------

    async def _handle(self, item: Checked, gov: Governance) -> Outcome:
        """Accept and route, or refuse, one checked message; ack it when all is persisted."""
        if item.failure is not None:
            raise item.failure
        now = self.clock()
        if item.refusal is not None or item.envelope is None:
            return await self._refuse(item, item.refusal or HubError("unchecked"), now)
        envelope = item.envelope
        try:  # before the claim: a message refused for these may come again, fixed
            await self.requests.check_onward(envelope, gov.directory, now)
            amendment = await self.amends.plan(envelope, gov.directory.party_codes)
            decision = await self._decision(envelope, gov, now, amendment)
            routed = self.amends.own_record(envelope, decision, amendment, item.ref)
            if amendment is not None:  # before the claim: of two at once, one passes
                await self.amends.mark(envelope, amendment)
            redelivered = await self.seen.admit(item, routed)
        except MessageRefused as err:
            return await self._refuse(item, err, now)
        planned = _Planned(decision, amendment, routed, redelivered)
        return await self._route(item, envelope, now, planned)

    async def _decision(
        self, envelope: Envelope, gov: Governance, now: datetime, amendment: Amendment | None
    ) -> Decision:
        """Who receives ``envelope``: the agreements decide, except for an amendment, which
        goes to the original's recipients whatever the agreements say now."""
        if amendment is not None:
            return amendment.decision
        memory = await self.requests.snapshot(envelope)
        return decide(envelope, gov.agreements, gov.directory, now, memory)

    async def _refuse(self, item: Checked, err: EnlaceError, now: datetime) -> Outcome:
        msg, cc, seq = item.msg, item.sender, item.seq
        outcome = Outcome(
            message_id=item.message_id,
            status=OutcomeStatus.REJECTED,
            at=now,
            reason=err.code,
            description=err.description,
        )
        writes = [
            Write(
                *quarantine_record(
                    cc,
                    (msg.subject, item.stream, seq),
                    item.headers,
                    msg.data,
                    (err.code, err.description),
                    wire_limit(self.settings.max_message_bytes),
                )
            )
        ]
        if cc != UNKNOWN_COUNTRY:
            writes.append(_notice(cc, item.ref, outcome))
        digest = sha256_digest(msg.data)
        context = MessageContext(
            outcome, msg.subject, seq, cc, digest, None, None, len(msg.data), ingress_ref=item.ref
        )
        await self.writer.write(writes, *self._audit(context))
        log.info(
            "rejected", message_id=outcome.message_id, sender=cc, reason=err.code, ingress=item.ref
        )
        await self._finish(msg, cc, outcome)
        return outcome

    async def _route(
        self, item: Checked, envelope: Envelope, now: datetime, planned: _Planned
    ) -> Outcome:
        msg, cc, seq = item.msg, item.sender, item.seq
        decision, amendment, again = planned.decision, planned.amendment, planned.again
        outcome = _outcome_of(decision, now)
        digest = sha256_digest(msg.data)
        # A request's sender is on record before anyone can receive it and reply.
        await self.requests.remember(envelope)
        marks = amendment.headers if amendment is not None else {}
        routes = decision.recipients
        signed = (msg.data, item.jws, digest)
        deliveries = delivery_writes(routes, envelope, signed, self.signer, marks)
        views = {r.recipient: d.view_digest for r, d in zip(routes, deliveries, strict=True)}
        size, ref = len(msg.data), item.ref
        context = MessageContext(
            outcome, msg.subject, seq, cc, digest, envelope, decision, size, views, again, ref
        )
        notice = [_notice(cc, item.ref, outcome)] if outcome.is_notice else []
        # Deliveries, notice and audit entries in parallel: one round trip. A redelivery
        # (``again``) repeats them: JetStream keeps one copy of each delivery and notice;
        # the audit log may then hold the decision twice, never zero times, the second
        # one marked as a redelivery.
        # With the claim as the record, the claim wrote it (a redelivery's: refresh_record).
        keeps = self.seen.keeps_routes
        index = [] if keeps else await self.amends.own_writes(planned.routed, again=again)
        writes = [*(d.write for d in deliveries), *notice, *index]
        await self.writer.write(writes, *self._audit(context))
        for route, d in zip(routes, deliveries, strict=True):
            self.metrics.delivered(route.recipient, d.write.headers[HDR_VIEW] == "full")
        log.info(
            "accepted",
            message_id=envelope.id,
            sender=cc,
            status=outcome.status.value,
            recipients=[r.country for r in outcome.recipients],
            redelivered=again,
        )
        await self._finish(msg, cc, outcome)
        return outcome

    def _audit(self, context: MessageContext) -> list[Awaitable[object]]:
        return [] if self.audit is None else [self.audit.record(context)]

    async def _finish(self, msg: Msg, cc: str, outcome: Outcome) -> None:
        # After the writes (it says they are on disk), before the ack (it is always kept).
        if cc != UNKNOWN_COUNTRY:
            await self.outcomes.store(cc, outcome)
        await msg.ack()


def _notice(cc: str, ingress: str, outcome: Outcome) -> Write:
    """The notice of ``outcome`` to its sender, de-duplicated per ingress message
    (``ingress``: :func:`hub.pipeline.checks.ingress_ref`)."""
    return Write(rejected_subject(cc), outcome.to_json(), {HDR_MSG_ID: f"{ingress}:notice"})


def _attempts(msg: Msg) -> int:
    try:
        return int(msg.metadata.num_delivered)
    except Exception:  # not a JetStream message (tests)
        return 1


def _outcome_of(decision: Decision, now: datetime) -> Outcome:
    recipients = tuple(
        RecipientView(country=r.recipient, view=r.view_name, agreement=r.agreement)
        for r in decision.recipients
    )
    refused = tuple(
        RefusedRecipient(country=r.recipient, reason=r.reason, detail=r.detail)
        for r in decision.refused
    )
    if not recipients:
        # The sender learns every party's reason: "no agreement" would mislead when the
        # cause is TLP:RED without `to` or a reply to a request the hub does not know.
        return Outcome(
            message_id=decision.message_id,
            status=OutcomeStatus.UNDELIVERABLE,
            at=now,
            reason="undeliverable",
            description=(
                f"message {decision.message_id} is accepted, but delivered to nobody: "
                f"{decision.why_nobody()}"
            ),
            refused=tuple(
                RefusedRecipient(country=r.recipient, reason=r.reason, detail=r.detail)
                for r in decision.nobody_because()
            ),
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

"""The outcomes the hub keeps for senders: stream ``OUTCOMES_<cc>``, one per message id.

The pipeline stores each message's outcome after its deliveries (or its quarantine copy),
notice and audit entries are persisted, and before it acks INGRESS: acknowledged means the
sender can collect the outcome (``enlace outcome ID``, ``EnlaceClient.outcome``, the
gateway's ``GET /v1/messages/{id}/outcome``) for ``outcome_max_age``, whatever became of
the publisher that waited for it. The write is a JetStream publish on
:func:`~schemas.subjects.outcome_subject`, so a publisher still waiting there hears it
at once, as before; it costs the hub one more persisted write per message, made after the
others because an outcome must not say "delivered" before the deliveries are on disk.

Which outcome a message id keeps (the stream holds one per id):

- an accepted one (``accepted``, ``partial``, ``undeliverable``) always: the hub accepts
  an id once (:mod:`hub.pipeline.replay`), so it is the answer for good;
- a refusal only over no outcome or another refusal (a fixed message sent again under the
  same id is refused for its new reason): never over an accepted one, which a replay, a
  ``duplicate`` or a garbled copy of the same id must not hide from its sender. The hub
  reads what the id holds and writes at its exact sequence (a compare-and-set:
  ``Nats-Expected-Last-Subject-Sequence``), or, over an accepted outcome, expecting none,
  which JetStream refuses. Refusals are few: the read costs the fast path nothing.

Each outcome is published once; the waiting publisher hears it even when JetStream refuses
to store it (the publish reaches subscribers whatever the stream answers).
"""

from __future__ import annotations

import structlog
from nats.js import JetStreamContext
from nats.js.errors import APIError, NotFoundError

from hub.jetstream.writer import JetStreamWriter, Write
from schemas.outcomes import Outcome
from schemas.subjects import (
    HDR_EXPECTED_LAST_SUBJECT_SEQ,
    JS_WRONG_LAST_SEQUENCE,
    outcome_stream,
    outcome_subject,
)

__all__ = ["OutcomeStore"]

log = structlog.get_logger("enlace.hub.outcomes")


class OutcomeStore:
    """Stores outcomes in their sender's ``OUTCOMES_<cc>`` (see the module docstring).

    Args:
        writer: the hub's JetStream writer (its acknowledgements).
        js: the hub's JetStream context (reading the outcome a refusal would replace).
    """

    def __init__(self, writer: JetStreamWriter, js: JetStreamContext) -> None:
        self.writer = writer
        self.js = js

    async def store(self, cc: str, outcome: Outcome) -> None:
        """Persist ``outcome`` of sender ``cc``; returns once JetStream has it on disk, or
        has kept the accepted outcome this refusal must not replace.

        Raises:
            nats errors: the write was not acknowledged (the caller leaves INGRESS unacked).
        """
        subject = outcome_subject(cc, outcome.message_id)
        body = outcome.to_json()
        if outcome.accepted:
            await self.writer.write([Write(subject, body, {})])
            return
        try:
            kept = await self.js.get_last_msg(outcome_stream(cc), subject, direct=True)
        except NotFoundError:
            seq = 0
        else:
            # Over an accepted outcome, "none there yet" is what JetStream refuses: it keeps
            # the accepted one, and the waiting publisher still hears this refusal.
            seq = 0 if _accepted(kept.data) else kept.seq or 0
        if not await self._set_if_last(subject, body, seq):
            log.info("outcome_kept", message_id=outcome.message_id, refused=outcome.reason)

    async def _set_if_last(self, subject: str, body: bytes, seq: int) -> bool:
        """Write ``body`` if the subject's last message is at ``seq`` (0: none); False when not."""
        expect = {HDR_EXPECTED_LAST_SUBJECT_SEQ: str(seq)}
        try:
            await self.writer.write([Write(subject, body, expect)])
        except APIError as err:
            if err.err_code == JS_WRONG_LAST_SEQUENCE:
                return False
            raise
        return True


def _accepted(data: bytes | None) -> bool:
    """Whether a kept outcome is an accepted one (what is unreadable may be replaced)."""
    try:
        return Outcome.from_json(data or b"").accepted
    except ValueError:
        return False

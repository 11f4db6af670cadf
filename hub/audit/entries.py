"""Audit entries: what the hub records about each decision, and nothing else.

An entry is metadata and digests only. The model declares every field an entry may
carry (``extra="forbid"``), each bounded and patterned, so payload content or a secret
cannot ride along in a free-form field. Its byte form is canonical JSON (sorted keys,
compact, absent fields omitted); those exact bytes are the Merkle leaf.

``index`` is the entry's position in the log (0-based), assigned by the writer when it
appends; there is no ``prev`` hash: the Merkle tree, not a chain, binds the order.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, ValidationError

from hub.audit.errors import AuditEntryInvalid
from schemas.canonical import canonical_json
from schemas.common import StrictModel, UtcDatetime

__all__ = [
    "DIGEST_PATTERN",
    "REDELIVERED",
    "AuditEntry",
    "EntryKind",
    "Refusal",
    "parse_entry",
]

DIGEST_PATTERN = r"^sha256:[0-9a-f]{64}$"
REDELIVERED = "redelivered: handled again after the hub stopped before acking it"
"""The ``detail`` of a ``received`` entry that repeats an earlier decision."""

# Tokens are short identifiers (reason codes, view names, kinds); ids allow the usual
# id characters. Neither admits spaces, so no sentence of payload text fits in them.
_WORD = r"^[a-z][a-z0-9_+.-]{0,63}$"
_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"

Digest = Annotated[str, Field(pattern=DIGEST_PATTERN)]
Token = Annotated[str, Field(pattern=_WORD)]
Ident = Annotated[str, Field(pattern=_ID)]
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]


class EntryKind(StrEnum):
    RECEIVED = "received"
    REJECTED = "rejected"
    ROUTED = "routed"
    UNDELIVERABLE = "undeliverable"
    NOT_ROUTED = "not_routed"  # the parties an accepted, routed message did not reach, and why
    DELIVERED = "delivered"
    DEAD_LETTERED = "dead_lettered"  # a recipient's sink refused a delivery (signed receipt)
    RECEIPT_REJECTED = "receipt_rejected"  # a receipt the hub could not verify; not a delivery
    GOVERNANCE = "governance"
    KEY_EVENT = "key_event"
    CONSUMER = "consumer"  # the hub found one of its consumers changed: repaired or refused
    HUB_START = "hub_start"
    HUB_STOP = "hub_stop"


class Refusal(StrictModel):
    """A party that does not receive a message, and the reason code why."""

    country: Country
    reason: Token


def _now() -> datetime:
    return datetime.now(UTC)


class AuditEntry(StrictModel):
    """One leaf of the audit log. Build entries with the class-method constructors."""

    index: int | None = Field(default=None, ge=0)
    time: UtcDatetime = Field(default_factory=_now)
    kind: EntryKind
    message_id: Ident | None = None
    country: Country | None = None  # the sender's country (received, rejected)
    poc: Ident | None = None
    theme: Token | None = None
    type: Token | None = None
    reason: Token | None = None
    recipient: Country | None = None
    agreement: Ident | None = None
    flow: Ident | None = None
    view: Token | None = None
    digest: Digest | None = None
    size: int | None = Field(default=None, ge=0)
    refused: tuple[Refusal, ...] | None = None
    sink: Ident | None = None
    subject: Token | None = None  # governance: directory / agreement; key events: key kind
    version: Ident | None = None  # governance: a version or an agreement id; key events: kid
    outcome: Token | None = None  # governance: loaded / refused; key events: created / revoked
    detail: Annotated[str, Field(max_length=300)] | None = None
    hub_id: Ident | None = None
    owner: Ident | None = None  # key events: who holds the key (a POC id, a country, the hub)

    # -- constructors for the pipeline -------------------------------------------------------

    @classmethod
    def received(
        cls,
        *,
        message_id: str,
        sender_country: str,
        poc: str | None,
        type_: str,
        theme: str,
        digest: str,
        size: int,
        again: bool = False,
    ) -> AuditEntry:
        """A message was taken from INGRESS (parsed and verified far enough to name it).

        Args:
            message_id: its id.
            sender_country: the country it came from.
            poc: the point of contact that signed it, when verified.
            type_: its message type.
            theme: its theme.
            digest: ``sha256:<hex>`` of its bytes.
            size: its size in bytes.
            again: the hub had handled this same INGRESS message before and stopped before
                acking it; this decision repeats (or, after a reload, revises) that one.
        """
        return cls._build(
            kind=EntryKind.RECEIVED,
            message_id=message_id,
            country=sender_country,
            poc=poc,
            type=type_,
            theme=theme,
            digest=digest,
            size=size,
            detail=REDELIVERED if again else None,
        )

    @classmethod
    def rejected(
        cls,
        message_id: str | None,
        sender_country: str | None,
        reason: str,
        digest: str,
        size: int,
    ) -> AuditEntry:
        """A message was refused with a reason code.

        The hub had the message's bytes: their digest and size are required. For what the
        NATS server refused before it reached the hub, see :meth:`refused_by_server`.

        Args:
            message_id: its id (None when unknown: malformed JSON).
            sender_country: the country it came from (None when its subject names none).
            reason: the reason code.
            digest: ``sha256:<hex>`` of its bytes.
            size: its size in bytes.
        """
        return cls._build(
            kind=EntryKind.REJECTED,
            message_id=message_id,
            country=sender_country,
            reason=reason,
            digest=digest,
            size=size,
        )

    @classmethod
    def refused_by_server(cls, sender_country: str, reason: str, detail: str) -> AuditEntry:
        """The NATS server refused a message before it reached JetStream (a ``rejected``).

        Only what the server reported is recorded. The entry has **no** message id, digest
        or size: no byte of the message arrived, and the server's event says neither which
        message it was nor how large.

        Args:
            sender_country: the sender's country, from its login.
            reason: the reason code.
            detail: what the server did (e.g. its ``max_payload``).
        """
        return cls._build(
            kind=EntryKind.REJECTED, country=sender_country, reason=reason, detail=detail
        )

    @classmethod
    def routed(
        cls,
        message_id: str,
        recipient: str,
        agreement: str,
        flow: str | None,
        view: str,
        digest: str,
    ) -> AuditEntry:
        """A delivery to ``recipient`` was persisted.

        Args:
            message_id: the message delivered.
            recipient: the country it was delivered to.
            agreement: the agreement that allows it.
            flow: the flow of that agreement, when named.
            view: the view delivered.
            digest: ``sha256:<hex>`` of the delivered view.
        """
        return cls._build(
            kind=EntryKind.ROUTED,
            message_id=message_id,
            recipient=recipient,
            agreement=agreement,
            flow=flow,
            view=view,
            digest=digest,
        )

    @classmethod
    def undeliverable(cls, message_id: str, refused: list[tuple[str, str]]) -> AuditEntry:
        """No party (or not these parties) may receive the message, and why for each."""
        return cls._build(
            kind=EntryKind.UNDELIVERABLE,
            message_id=message_id,
            refused=tuple(Refusal(country=cc, reason=reason) for cc, reason in refused),
        )

    @classmethod
    def not_routed(cls, message_id: str, refused: list[tuple[str, str]]) -> AuditEntry:
        """The parties a message routed to others does not reach, each with its reason code.

        With the ``routed`` entries of the same message, every party's decision is on the
        record (``undeliverable`` says the same of a message that reached nobody).
        """
        return cls._build(
            kind=EntryKind.NOT_ROUTED,
            message_id=message_id,
            refused=tuple(Refusal(country=cc, reason=reason) for cc, reason in refused),
        )

    @classmethod
    def delivered(
        cls, message_id: str, recipient: str, receipt_digest: str, sink: str
    ) -> AuditEntry:
        """A recipient's sink wrote the delivery and sent a signed receipt.

        Args:
            message_id: the message delivered.
            recipient: the country whose sink wrote it.
            receipt_digest: ``sha256:<hex>`` of the receipt.
            sink: the sink that wrote it.
        """
        return cls._build(
            kind=EntryKind.DELIVERED,
            message_id=message_id,
            recipient=recipient,
            digest=receipt_digest,
            sink=sink,
        )

    @classmethod
    def dead_lettered(
        cls, message_id: str, recipient: str, receipt_digest: str, sink: str, reason: str
    ) -> AuditEntry:
        """A recipient's sink refused the delivery (reason code) and sent a signed receipt.

        Args:
            message_id: the message refused.
            recipient: the country whose sink refused it.
            receipt_digest: ``sha256:<hex>`` of the receipt.
            sink: the sink that refused it.
            reason: the sink's reason code.
        """
        return cls._build(
            kind=EntryKind.DEAD_LETTERED,
            message_id=message_id,
            recipient=recipient,
            digest=receipt_digest,
            sink=sink,
            reason=reason,
        )

    @classmethod
    def receipt_rejected(
        cls,
        message_id: str | None,
        country: str | None,
        reason: str,
        receipt_digest: str,
        size: int,
    ) -> AuditEntry:
        """A receipt from ``country`` (its subject) failed verification; nothing was recorded.

        Args:
            message_id: the id the receipt claims, when readable: a forged receipt stays
                visible in that message's trail without counting as a delivery.
            country: the country whose subject it came on.
            reason: the reason code.
            receipt_digest: ``sha256:<hex>`` of the receipt's bytes.
            size: its size in bytes.
        """
        return cls._build(
            kind=EntryKind.RECEIPT_REJECTED,
            message_id=message_id,
            country=country,
            reason=reason,
            digest=receipt_digest,
            size=size,
        )

    @classmethod
    def governance(
        cls, kind: str, version_or_id: str, outcome: str, detail: str | None = None
    ) -> AuditEntry:
        """A directory or agreement version was loaded or refused.

        Args:
            kind: ``directory`` or ``agreement``.
            version_or_id: the directory's version or the agreement's id.
            outcome: ``loaded`` or ``refused``.
            detail: the reason code of a refusal.
        """
        return cls._build(
            kind=EntryKind.GOVERNANCE,
            subject=kind,
            version=version_or_id,
            outcome=outcome,
            detail=detail,
        )

    @classmethod
    def key_event(cls, event: str, kid: str, owner: str | None = None) -> AuditEntry:
        """A key was created, rotated in, revoked or found expired (kid only, never key bytes).

        Args:
            event: what happened (``created``, ``revoked`` …).
            kid: the key's id.
            owner: who holds it (a POC id, a country, the hub).
        """
        return cls._build(kind=EntryKind.KEY_EVENT, outcome=event, version=kid, owner=owner)

    @classmethod
    def consumer_event(cls, stream: str, consumer: str, outcome: str, detail: str) -> AuditEntry:
        """A durable consumer was found changed at start: ``repaired`` or ``refused``.

        Args:
            stream: the consumer's stream (``subject``).
            consumer: its durable name (``version``).
            outcome: ``repaired`` (put back in place) or ``refused`` (the hub stopped).
            detail: what differed, or the reason code (no payload, config values only).
        """
        return cls._build(
            kind=EntryKind.CONSUMER,
            subject=stream.lower(),
            version=consumer,
            outcome=outcome,
            detail=detail[:300],
        )

    @classmethod
    def hub_event(cls, event: str, hub_id: str) -> AuditEntry:
        """The hub started (``event="start"``) or stopped (``"stop"``)."""
        kinds = {"start": EntryKind.HUB_START, "stop": EntryKind.HUB_STOP}
        if event not in kinds:
            raise AuditEntryInvalid(f"hub event must be 'start' or 'stop', not {event!r}")
        return cls._build(kind=kinds[event], hub_id=hub_id)

    @classmethod
    def _build(cls, **fields: Any) -> AuditEntry:
        try:
            return cls(**fields)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise AuditEntryInvalid(
                f"audit entry {fields.get('kind')}: field {where}: {err['msg']}"
            ) from None

    # -- byte form ---------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The JSON object of the entry, absent fields omitted."""
        return self.model_dump(mode="json", exclude_none=True)

    def canonical(self) -> bytes:
        """The canonical JSON bytes: what the log stores and the Merkle leaf hashes."""
        return canonical_json(self.to_json())

    def with_index(self, index: int) -> AuditEntry:
        return self.model_copy(update={"index": index})


def parse_entry(raw: bytes) -> AuditEntry:
    """Parse stored entry bytes, refusing anything that is not a canonical, valid entry.

    Raises:
        AuditEntryInvalid: not JSON, not canonical JSON, or not an entry (says which field).
    """
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise AuditEntryInvalid(f"not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise AuditEntryInvalid("not a JSON object")
    if canonical_json(data) != raw:
        raise AuditEntryInvalid("not in canonical JSON form (keys sorted, compact)")
    try:
        entry = AuditEntry.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise AuditEntryInvalid(f"field {where}: {err['msg']}") from None
    if entry.canonical() != raw:
        # e.g. a time written in another valid form: the stored bytes are not the model's.
        raise AuditEntryInvalid("entry does not round-trip to the same bytes")
    return entry

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
    QUARANTINE_VIEWED = "quarantine_viewed"  # an operator was shown quarantined bytes
    HUB_START = "hub_start"
    HUB_STOP = "hub_stop"
    SERVER_RESTARTED = "server_restarted"  # `enlace up` started its dead nats-server again


class Refusal(StrictModel):
    """A party that does not receive a message, and the reason code why."""

    country: Country
    reason: Token


def _now() -> datetime:
    return datetime.now(UTC)


class AuditEntry(StrictModel):
    """One leaf of the audit log. Build entries with :mod:`hub.audit.kinds`, one per kind."""

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
    # quarantine_viewed: who (``owner``), what (``digest``), how (``outcome``) and which copy
    seq: int | None = Field(default=None, ge=1)  # the QUARANTINE stream sequence
    # received: the sender's handling conditions that hold, by name (a note's words stay out)
    conditions: tuple[Token, ...] | None = None
    amends: Ident | None = None  # received: the message a correction or retraction amends
    # received, rejected: the INGRESS message (``<stream>-<seq>``) the entry is about; a
    # ``received`` entry carrying it is the claim of its id (hub.audit.seen)
    ingress: Ident | None = None

    # -- byte form ---------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The JSON object of the entry, absent fields omitted."""
        return self.model_dump(mode="json", exclude_none=True)

    def canonical(self) -> bytes:
        """The canonical JSON bytes: what the log stores and the Merkle leaf hashes."""
        return canonical_json(self.to_json())

    def canonical_at(self, index: int) -> bytes:
        """The canonical bytes of this entry as entry ``index`` of the log: the bytes of
        ``with_index(index).canonical()``, serialised once and without a copy (the writer's
        hot path)."""
        data = self.to_json()
        data["index"] = index
        return canonical_json(data)

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

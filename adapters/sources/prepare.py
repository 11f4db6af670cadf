"""Turning what a national system hands over (unsigned JSON) into a signed, valid message.

Shared by the HTTP gateway and the watched folder. The national system may leave out
what the adapter knows better: ``id`` (a new ULID), ``issued_at`` (now) and ``sender``
(the point of contact the credential belongs to). What it does give must match that POC.
The bytes that are signed and published are the completed message, serialized once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from adapters.client import EnlaceClient
from adapters.keys import Signer
from schemas.common import new_message_id
from schemas.directory import Directory, PointOfContact
from schemas.envelope import DEFAULT_MAX_BYTES, load_json
from schemas.errors import InvalidEnvelope, MessageTooLarge, SenderMismatch
from schemas.govdoc import rfc3339
from schemas.message import Message, parse_message
from schemas.outcomes import Outcome, OutcomeStatus

__all__ = [
    "ClientPublisher",
    "Prepared",
    "PublishReceipt",
    "Publisher",
    "poc_of",
    "prepare_message",
]


@dataclass(frozen=True)
class Prepared:
    """A completed, validated message ready to sign: its exact bytes and parsed form."""

    raw: bytes
    message: Message

    @property
    def id(self) -> str:
        return self.message.id


@dataclass(frozen=True)
class PublishReceipt:
    """What INGRESS said: stored at ``seq`` (or already there: ``duplicate``), and the hub."""

    message_id: str
    subject: str
    seq: int
    duplicate: bool
    outcome: Outcome | None = None  # the hub's verdict, when waited for

    @property
    def rejected(self) -> bool:
        return self.outcome is not None and not self.outcome.accepted

    @property
    def undeliverable(self) -> bool:
        """The hub accepted it but nobody receives it (:attr:`refused` says why)."""
        return self.outcome is not None and self.outcome.status is OutcomeStatus.UNDELIVERABLE

    @property
    def refused(self) -> list[tuple[str, str, str]]:
        """(country, reason code, detail) of each country the hub did not deliver to."""
        refused = () if self.outcome is None else self.outcome.refused
        return [(r.country, r.reason, r.detail) for r in refused]


class Publisher(Protocol):
    """Signs and publishes a prepared message to INGRESS; reads the hub's kept outcomes."""

    async def publish(self, prepared: Prepared, signer: Signer) -> PublishReceipt: ...

    async def outcome(self, message_id: str, country: str) -> Outcome | None:
        """The hub's kept outcome of ``country``'s message (:meth:`EnlaceClient.outcome`)."""
        ...


def prepare_message(
    data: bytes, poc: PointOfContact, max_bytes: int = DEFAULT_MAX_BYTES
) -> Prepared:
    """Complete and validate what a national system sent for ``poc``.

    Args:
        data: the bytes the national system sent.
        poc: the point of contact it sends as.
        max_bytes: the largest message accepted.

    Returns:
        The completed message (id, ``issued_at``, sender filled in), validated.

    Raises:
        MessageTooLarge, MalformedJson, DuplicateKey, InvalidEnvelope, UnknownMessageType,
        ThemeNotAllowed, SchemaInvalid, SenderMismatch (the sender is not ``poc``).
    """
    if len(data) > max_bytes:
        raise MessageTooLarge(len(data), max_bytes)
    # The same reading as the hub's: a key given twice is refused here, not resolved to
    # one of its values and signed as if the national system had meant that one.
    obj: Any = load_json(data)
    if not isinstance(obj, dict):
        raise InvalidEnvelope("a message is one JSON object")
    obj.setdefault("id", new_message_id())
    obj.setdefault("issued_at", rfc3339(datetime.now(UTC)))
    obj.setdefault("sender", {"country": poc.country, "agency": poc.agency, "poc": poc.id})
    sender = obj["sender"]
    if isinstance(sender, dict):
        if sender.get("poc", poc.id) != poc.id or sender.get("country", poc.country) != (
            poc.country
        ):
            raise SenderMismatch(
                f"the message says sender {sender.get('poc')!r} of {sender.get('country')}, "
                f"but this credential is {poc.id!r} of {poc.country}"
            )
        sender.setdefault("poc", poc.id)
        sender.setdefault("country", poc.country)
        sender.setdefault("agency", poc.agency)
    raw = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    message = parse_message(raw, max_bytes)
    if message.envelope.theme not in poc.themes:
        raise SenderMismatch(
            f"point of contact {poc.id!r} serves {', '.join(poc.themes)}, "
            f"not {message.envelope.theme}"
        )
    return Prepared(raw, message)


def poc_of(directory: Directory, poc_id: str) -> PointOfContact:
    """The directory entry of ``poc_id``; raises SenderMismatch when it is not there."""
    poc = directory.poc(poc_id)
    if poc is None:
        raise SenderMismatch(f"point of contact {poc_id!r} is not in the directory")
    return poc


class ClientPublisher:
    """Signs with the POC's key and publishes through :class:`adapters.client.EnlaceClient`.

    Without ``wait`` it returns once JetStream acked (the message is on disk in INGRESS);
    with ``wait`` it also carries the hub's outcome (accepted, or rejected with a reason).
    ``Nats-Msg-Id`` = message id, so a retried publish is not doubled.
    """

    def __init__(self, client: EnlaceClient, wait: bool = False, wait_seconds: float = 30.0):
        self.client = client
        self.wait = wait
        self.wait_seconds = wait_seconds

    async def publish(self, prepared: Prepared, signer: Signer) -> PublishReceipt:
        jws = EnlaceClient.sign(prepared.raw, signer.key, signer.kid)
        result = await self.client.publish(
            prepared.raw, jws, wait=self.wait, wait_seconds=self.wait_seconds
        )
        return PublishReceipt(
            result.message_id, result.subject, result.stream_seq, result.duplicate, result.outcome
        )

    async def outcome(self, message_id: str, country: str) -> Outcome | None:
        """The hub's kept outcome of ``country``'s message ``message_id``, None when none is
        kept; raises :class:`~adapters.errors.OutcomeNotPermitted` when this connection is
        not ``country``'s login."""
        return await self.client.outcome(message_id, country)

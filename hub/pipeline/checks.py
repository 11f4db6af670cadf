"""The checks of an ingress message that need no I/O, for a whole fetched batch at once.

size limit → envelope → signature (directory) → subject tokens = body → schema
→ acceptance window. What is left (seen ids, routing, writes) needs JetStream and is the
pipeline's (:mod:`hub.pipeline.ingress`).

The checks are pure CPU work. Running them in a worker thread looks tempting (Ed25519
verification in ``cryptography`` releases the GIL) but measured slower: the rest holds the
GIL, and the event loop then waits for it (``bench/bench_hub.py``, 2 cores).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from nats.aio.msg import Msg

from hub.config import HubSettings
from hub.errors import MessageRefused
from hub.jetstream.streams import LEGACY_INGRESS
from hub.pipeline.replay import check_window
from schemas.amendments import amended_id
from schemas.directory import Directory
from schemas.envelope import Envelope, parse_envelope
from schemas.errors import EnlaceError, MalformedSignature, MessageError, SignatureError
from schemas.errors import SubjectMismatch as SubjectMismatchError
from schemas.message import validate_envelope
from schemas.subjects import (
    HDR_MSG_ID,
    HDR_SIGNATURE,
    ingress_subject,
    parse_ingress_subject,
    sender_token,
)

__all__ = ["Checked", "check", "check_batch", "ingress_ref", "ingress_seq"]


@dataclass(frozen=True)
class Checked:
    """One ingress message after the checks: passed (``envelope``), refused or failed."""

    msg: Msg
    seq: int
    """Its ingress stream sequence (0 outside JetStream)."""
    sender: str
    """The country token of its subject (who published it), ``XX`` if not a country
    (:func:`schemas.subjects.sender_token`)."""
    headers: dict[str, str] = field(default_factory=dict)
    envelope: Envelope | None = None
    jws: str = ""
    refusal: EnlaceError | None = None
    """Why the hub refuses it: a typed error, with a reason code and a sentence for the
    sender (not a :class:`hub.policy.Refusal`, which refuses one recipient a message)."""
    failure: Exception | None = None
    """An internal error while checking it (a bug): the message is retried, not refused."""
    stream: str = ""
    """Its ingress stream (``INGRESS_<cc>``; empty outside JetStream)."""

    @property
    def ref(self) -> str:
        """Its name among all ingress messages of every stream (:func:`ingress_ref`)."""
        return ingress_ref(self.stream, self.seq)

    @property
    def message_id(self) -> str:
        """The id to report: the envelope's, else a safe ``Nats-Msg-Id``, else :attr:`ref`."""
        if self.envelope is not None:
            return self.envelope.id
        return _safe_id(self.headers.get(HDR_MSG_ID)) or self.ref

    @property
    def thread_key(self) -> str:
        """The ordering key: the sender and ``correlation_id``, else itself (no constraint).

        A sender's corrections and retractions are handled one after the other: two
        amendments of one message in a batch must not both pass as its latest version.
        """
        if self.envelope is not None and amended_id(self.envelope) is not None:
            return f"{self.sender}:amends"
        correlation = self.envelope.correlation_id if self.envelope is not None else None
        if correlation:
            return f"{self.sender}:{correlation}"
        return f"seq:{self.seq}:{id(self.msg)}"


def ingress_seq(msg: Msg) -> int:
    """The ingress stream sequence of ``msg`` (0 for a message not from JetStream)."""
    try:
        return int(msg.metadata.sequence.stream)
    except Exception:  # not a JetStream message (tests): no sequence
        return 0


def _ingress_stream(msg: Msg) -> str:
    try:
        return str(msg.metadata.stream)
    except Exception:  # not a JetStream message (tests): no stream
        return ""


def ingress_ref(stream: str, seq: int) -> str:
    """The name of one ingress message, unique across every country's ingress stream.

    ``INGRESS_GT-42``: sequences restart in each stream, so the seen-id claim, the
    quarantine copy's and the notice's ``Nats-Msg-Id`` name the stream too (with the
    sequence alone, HN's message 42 would pass for a redelivery of GT's 42, and its notice
    would be dropped by JetStream as a duplicate of GT's). The one INGRESS stream of
    earlier versions (and a message outside JetStream) keeps its old ``in42``, so that a
    redelivery of an old message after an upgrade repeats the same ids.

    Args:
        stream: the message's stream name.
        seq: its sequence in that stream.
    """
    if stream in ("", LEGACY_INGRESS):
        return f"in{seq}"
    return f"{stream}-{seq}"


def check(msg: Msg, directory: Directory, settings: HubSettings, now: datetime) -> Checked:
    """Run every I/O-free check on ``msg``; never raises (errors are in the result).

    Args:
        msg: the ingress message.
        directory: the directory in force (keys of the points of contact).
        settings: the hub settings (size limit, acceptance window, clock skew).
        now: the hub's time.

    Returns:
        The message checked: passed (with its envelope), refused, or failed (a bug).
    """
    seq, stream = ingress_seq(msg), _ingress_stream(msg)
    headers = dict(msg.headers or {})
    sender = sender_token(msg.subject)
    envelope: Envelope | None = None
    try:
        envelope = parse_envelope(msg.data, settings.max_message_bytes)
        jws = _verify(msg, headers, envelope, directory, now)
        validate_envelope(envelope)
        check_window(
            envelope.id, envelope.issued_at, now, settings.acceptance_window, settings.clock_skew
        )
    except (MessageError, SignatureError, MessageRefused) as err:
        return Checked(msg, seq, sender, headers, envelope, refusal=err, stream=stream)
    except Exception as exc:
        return Checked(msg, seq, sender, headers, envelope, failure=exc, stream=stream)
    return Checked(msg, seq, sender, headers, envelope, jws, stream=stream)


def check_batch(
    msgs: Sequence[Msg], directory: Directory, settings: HubSettings, now: datetime
) -> list[Checked]:
    """:func:`check` each message of a batch.

    Args:
        msgs: the fetched batch.
        directory: the directory in force.
        settings: the hub settings.
        now: the hub's time, one for the whole batch.
    """
    return [check(msg, directory, settings, now) for msg in msgs]


def _verify(
    msg: Msg, headers: dict[str, str], envelope: Envelope, directory: Directory, at: datetime
) -> str:
    jws = headers.get(HDR_SIGNATURE)
    if not jws:
        raise MalformedSignature(
            f"message {envelope.id} has no {HDR_SIGNATURE} header; sign it with the "
            "POC's key (`enlace publish` does)",
            message_id=envelope.id,
        )
    directory.verify_message(msg.data, jws, envelope, at)
    tokens = parse_ingress_subject(msg.subject)
    body = (envelope.sender.country, envelope.theme.value, envelope.type)
    if tokens is None or (tokens.country, tokens.theme, tokens.type) != body:
        raise SubjectMismatchError(
            f"message {envelope.id} came on {msg.subject!r} but its body says "
            f"{ingress_subject(*body)}; publish it on the subject of its sender "
            "country, theme and type",
            subject=msg.subject,
            message_id=envelope.id,
        )
    return jws


def _safe_id(value: str | None) -> str | None:
    if value and len(value) <= 64 and all(c.isalnum() or c in "-_" for c in value):
        return value
    return None

"""A whole message: raw bytes → envelope → registry → theme → typed payload.

:func:`parse_message` is what the hub, ``enlace verify`` and the adapters run on every
message; it raises only the typed errors of :mod:`schemas.errors`, whatever the bytes.
:func:`new_message` builds a valid (unsigned) message from a type's template.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from schemas.common import new_message_id
from schemas.envelope import DEFAULT_MAX_BYTES, Envelope, Sender, first_error, parse_envelope
from schemas.errors import MalformedJson, SchemaInvalid, ThemeNotAllowed
from schemas.govdoc import rfc3339
from schemas.registry import REGISTRY

__all__ = ["DEFAULT_MAX_BYTES", "Message", "new_message", "parse_message", "validate_envelope"]


@dataclass(frozen=True)
class Message:
    """A parsed, schema-valid message (its signature is checked elsewhere).

    Attributes:
        envelope: the validated envelope (``envelope.payload`` is the raw payload dict).
        payload: the payload validated by the model of ``type``/``version``.
        raw: the exact bytes received: what the signature covers.
    """

    envelope: Envelope
    payload: BaseModel
    raw: bytes

    @property
    def id(self) -> str:
        return self.envelope.id

    @property
    def type(self) -> str:
        return self.envelope.type


def validate_envelope(envelope: Envelope) -> BaseModel:
    """Check a parsed envelope against the registry and return its typed payload.

    Raises:
        UnknownMessageType: no model for ``type``/``version``.
        ThemeNotAllowed: the type may not travel under ``theme``.
        SchemaInvalid: a reply without ``in_reply_to``, or a payload field is wrong
            (``err.field`` is its dotted path, e.g. ``payload.firearms.0.caliber``).
    """
    spec = REGISTRY.spec(envelope.type, envelope.version)
    if envelope.theme not in spec.themes:
        raise ThemeNotAllowed(
            spec.type,
            str(envelope.theme),
            [str(t) for t in spec.themes],
            message_id=envelope.id,
        )
    if spec.reply and envelope.in_reply_to is None:
        raise SchemaInvalid(
            f"{spec.type} is a reply: give in_reply_to, the id of the message it answers",
            field="in_reply_to",
            message_id=envelope.id,
        )
    try:
        return spec.model.model_validate(envelope.payload)
    except ValidationError as exc:
        _, msg = first_error(exc)
        field = _payload_path(envelope.payload, exc.errors()[0]["loc"])
        raise SchemaInvalid(
            f"message {envelope.id}: {spec.type} v{spec.version} field {field}: {msg}",
            field=field,
            message_id=envelope.id,
        ) from None
    except RecursionError:
        # A pathologically nested payload; refuse it as invalid rather than crash.
        raise SchemaInvalid(
            f"message {envelope.id}: payload is nested too deeply",
            field="payload",
            message_id=envelope.id,
        ) from None


def _payload_path(payload: Any, loc: tuple[int | str, ...]) -> str:
    """The dotted path of an error in the payload as the sender wrote it.

    pydantic puts the tag of a discriminated union in the location
    (``conveyances.1.vessel.imo``); the sender's JSON has no such key, so it is left out.
    """
    parts = ["payload"]
    node: Any = payload
    for part in loc:
        if isinstance(node, dict) and part not in node and part in node.values():
            continue  # a union tag, e.g. "vessel" from {"kind": "vessel"}
        parts.append(str(part))
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
    return ".".join(parts)


def parse_message(raw: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> Message:
    """Parse and validate raw message bytes.

    Steps: size limit → JSON (each key once per object) → envelope → registry lookup →
    theme → payload model.

    Raises:
        MessageTooLarge, MalformedJson, DuplicateKey, InvalidEnvelope, UnknownMessageType,
        ThemeNotAllowed, SchemaInvalid — and nothing else, for any input.
    """
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise MalformedJson(f"a message is bytes, not {type(raw).__name__}")
    raw = bytes(raw)
    envelope = parse_envelope(raw, max_bytes)
    return Message(envelope=envelope, payload=validate_envelope(envelope), raw=raw)


def new_message(
    type_: str,
    sender: Sender,
    theme: str | None = None,
    handling: str = "green",
    **fields: Any,
) -> dict[str, Any]:
    """A complete, valid, unsigned message dict of ``type_`` with its template payload.

    The id is a fresh ULID and ``issued_at`` is now. A reply type without ``in_reply_to``
    gets a placeholder id: replace it with the request's id.

    Args:
        type_: the message type.
        sender: who sends it.
        theme: its theme (the first theme the type may travel under if None).
        handling: its TLP.
        **fields: envelope fields to set or override (``to``, ``evaluation``,
            ``correlation_id``, ``in_reply_to``, ``version``, ``payload`` …).

    Returns:
        The message as a dict, ready to serialize and sign.

    Raises:
        UnknownMessageType, ThemeNotAllowed, InvalidEnvelope, SchemaInvalid: when the result
        would not be a valid message.
    """
    version = fields.pop("version", None)
    if version is None:
        version = REGISTRY.latest(type_)
    spec = REGISTRY.spec(type_, version)
    message: dict[str, Any] = {
        "id": new_message_id(),
        "type": spec.type,
        "version": spec.version,
        "theme": theme if theme is not None else str(spec.themes[0]),
        "sender": sender.model_dump(mode="json"),
        "issued_at": rfc3339(datetime.now(UTC)),
        "handling": handling,
    }
    if spec.reply:
        message["in_reply_to"] = new_message_id()
    message["payload"] = REGISTRY.template(spec.type, spec.version)
    message.update(fields)
    try:
        raw = json.dumps(message, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise SchemaInvalid(f"a field is not JSON: {exc}") from None
    parse_message(raw, max_bytes=max(DEFAULT_MAX_BYTES, len(raw)))
    return message

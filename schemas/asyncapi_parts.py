"""Parts of the AsyncAPI document (:func:`schemas.export.asyncapi_document`) kept apart.

:func:`params` writes a channel's parameters; :func:`witness_api` gives the witnesses'
channels. A party's witness asks the hub for its latest audit checkpoint with a consistency proof
(request/reply) and stores its cosignature or its refusal in AUDIT_WITNESS
(:mod:`adapters.witness`, :mod:`hub.audit.witness`); the formats are C2SP's.
"""

from __future__ import annotations

from typing import Any

from schemas.subjects import PREFIX

__all__ = ["params", "witness_api"]


def params(**descriptions: str | tuple[str, list[str]]) -> dict[str, Any]:
    """A channel's parameters: each a description, or a description and its values."""
    found: dict[str, Any] = {}
    for name, what in descriptions.items():
        if isinstance(what, tuple):
            found[name] = {"description": what[0], "enum": what[1]}
        else:
            found[name] = {"description": what}
    return found


def witness_api() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The channels, operations and messages of the witnesses, to merge into the document."""
    country = params(country="the witnessing party")
    channels = {
        "witness_checkpoint": {
            "address": f"{PREFIX}.witness.{{country}}.checkpoint",
            "title": "A witness asks the hub for its latest audit checkpoint (request/reply)",
            "parameters": country,
            "messages": {
                "witness_request": {"$ref": "#/components/messages/witness_request"},
                "add_checkpoint": {"$ref": "#/components/messages/add_checkpoint"},
            },
        },
        "witness_cosigned": {
            "address": f"{PREFIX}.witness.{{country}}.cosigned",
            "title": "A party's cosignature of an audit checkpoint (stream AUDIT_WITNESS)",
            "parameters": country,
            "messages": {"cosigned": {"$ref": "#/components/messages/cosigned_checkpoint"}},
        },
        "witness_refused": {
            "address": f"{PREFIX}.witness.{{country}}.refused",
            "title": "A party's refusal of an audit checkpoint, with the evidence",
            "parameters": country,
            "messages": {"refusal": {"$ref": "#/components/messages/witness_refusal"}},
        },
    }
    operations = {
        "witness_the_log": {
            "action": "send",
            "channel": {"$ref": "#/channels/witness_checkpoint"},
            "summary": "A party's witness asks for the latest checkpoint and the proof that "
            "it extends the one it cosigned last.",
            "reply": {"channel": {"$ref": "#/channels/witness_checkpoint"}},
        },
        "store_cosignature": {
            "action": "send",
            "channel": {"$ref": "#/channels/witness_cosigned"},
            "summary": "The witness stores its cosignature (with its party's system key).",
        },
        "store_refusal": {
            "action": "send",
            "channel": {"$ref": "#/channels/witness_refused"},
            "summary": "The witness stores why it refused (a forked or rolled back log).",
        },
    }
    text = {"type": "string"}
    messages = {
        "witness_request": {
            "name": "witness_request",
            "title": "'old <size>': the size of the checkpoint the witness cosigned last",
            "contentType": "text/plain",
            "payload": {**text, "pattern": "^old (0|[1-9][0-9]*)\\n?$"},
        },
        "add_checkpoint": {
            "name": "add_checkpoint",
            "title": "C2SP tlog-witness add-checkpoint body: old size, consistency proof "
            "(one base64 hash a line), an empty line, the hub-signed checkpoint (C2SP signed "
            "note); empty when the hub has signed no checkpoint yet",
            "contentType": "text/plain",
            "payload": text,
        },
        "cosigned_checkpoint": {
            "name": "cosigned_checkpoint",
            "title": "The checkpoint with the party's C2SP tlog-cosignature/v1 line added",
            "contentType": "text/plain",
            "payload": text,
        },
        "witness_refusal": {
            "name": "witness_refusal",
            "title": "Why a witness refused a checkpoint",
            "contentType": "application/json",
            "payload": {
                "type": "object",
                "required": ["format", "country", "reason", "detail", "known_size", "at"],
                "properties": {
                    "format": {"const": "enlace-witness-refusal"},
                    "country": {"type": "string", "pattern": "^[A-Z]{2}$"},
                    "reason": {"type": "string", "pattern": "^witness_[a-z_]+$"},
                    "detail": text,
                    "known_size": {"type": "integer", "minimum": 0},
                    "offered": {"type": ["string", "null"], "description": "the refused note"},
                    "kept": {"type": ["string", "null"], "description": "the last cosigned"},
                    "at": {"type": "string", "format": "date-time"},
                },
            },
        },
    }
    return channels, operations, messages
